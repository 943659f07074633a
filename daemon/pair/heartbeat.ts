import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { z } from 'zod';

export const pairRoleSchema = z.enum(['active', 'standby']);
export type PairRole = z.infer<typeof pairRoleSchema>;

/** One heartbeat: who sends it, what it believes its role and the pair's epoch are, and its order. */
export const heartbeatSchema = z.strictObject({
  v: z.literal(1),
  device: z.string().min(1),
  /** Random per process start, so that a restarted peer's sequence may begin again at 0. */
  boot: z.string().min(1).max(64),
  seq: z.number().int().min(0),
  role: pairRoleSchema,
  epoch: z.number().int().min(0),
  preferred: z.boolean(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

const TAG_BYTES = 32;

/** JSON, a newline, then the hex HMAC-SHA256 of the JSON under the pair key. */
export function encodeHeartbeat(beat: Heartbeat, key: string): Buffer {
  const body = JSON.stringify(beat);
  return Buffer.from(`${body}\n${createHmac('sha256', key).update(body).digest('hex')}`);
}

/** The heartbeat in a datagram, or why it was dropped (a wrong key, a truncated or foreign packet). */
export function decodeHeartbeat(data: Buffer, key: string): { beat: Heartbeat } | { error: string } {
  const text = data.toString('utf8');
  const nl = text.lastIndexOf('\n');
  if (nl < 0) return { error: 'no signature' };
  const body = text.slice(0, nl);
  const tag = Buffer.from(text.slice(nl + 1), 'hex');
  const want = createHmac('sha256', key).update(body).digest();
  if (tag.length !== TAG_BYTES || !timingSafeEqual(tag, want)) return { error: 'bad signature' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { error: 'not JSON' };
  }
  const result = heartbeatSchema.safeParse(parsed);
  return result.success ? { beat: result.data } : { error: `not a heartbeat: ${result.error.issues[0]?.message ?? 'invalid'}` };
}

export interface HeartbeatLinkOptions {
  listen: { host: string; port: number };
  peer: { host: string; port: number };
  key: string;
  onBeat(beat: Heartbeat): void;
  onDropped(reason: string): void;
}

/**
 * The UDP side of the pair: sends our heartbeats to the peer and hands verified ones from it up.
 * A replayed datagram (same boot, sequence not newer) is dropped like a forged one, so a recorded
 * "I am active" cannot be played back to keep a dead peer alive.
 */
export class HeartbeatLink {
  readonly boot = randomUUID();
  private socket: Socket | null = null;
  private seq = 0;
  private last: { boot: string; seq: number } | null = null;
  dropped = 0;
  received = 0;

  constructor(private readonly opts: HeartbeatLinkOptions) {}

  async start(): Promise<void> {
    const socket = createSocket(this.opts.listen.host.includes(':') ? 'udp6' : 'udp4');
    socket.on('message', (data) => this.onMessage(data));
    // Send errors (a peer's host unreachable) are normal while it is down; they are counted as silence, not thrown.
    socket.on('error', (err) => this.opts.onDropped(`socket error: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.opts.listen.port, this.opts.listen.host, () => { socket.off('error', reject); resolve(); });
    });
    this.socket = socket;
  }

  /** The bound port (the configured one, or the one the system chose for port 0). */
  get port(): number {
    return this.socket?.address().port ?? 0;
  }

  /**
   * Sends the next heartbeat and returns it signed: the broker path sends the same bytes, so both
   * paths share one sequence and the peer can tell which of two beats is the newer.
   */
  send(beat: Omit<Heartbeat, 'v' | 'boot' | 'seq'>): Buffer {
    const data = encodeHeartbeat({ v: 1, boot: this.boot, seq: this.seq++, ...beat }, this.opts.key);
    this.socket?.send(data, this.opts.peer.port, this.opts.peer.host, () => { /* errors reach the 'error' listener */ });
    return data;
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
  }

  private onMessage(data: Buffer): void {
    const decoded = decodeHeartbeat(data, this.opts.key);
    if ('error' in decoded) {
      this.dropped += 1;
      this.opts.onDropped(decoded.error);
      return;
    }
    const { beat } = decoded;
    if (this.last && this.last.boot === beat.boot && beat.seq <= this.last.seq) {
      this.dropped += 1;
      this.opts.onDropped('replayed or reordered');
      return;
    }
    this.last = { boot: beat.boot, seq: beat.seq };
    this.received += 1;
    this.opts.onBeat(beat);
  }
}
