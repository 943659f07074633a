import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * The wire of the pair's replica stream (docs/data-replication.md, "Replication to the standby
 * peer"): a device's outbox rows, streamed over TCP to its peer, which keeps them in a file of its
 * own and relays the undelivered ones if it takes over after this device's storage is lost.
 *
 * A frame is a 4-byte big-endian length, that many bytes of JSON, and a 32-byte HMAC-SHA256 tag.
 * The first frame each way is the hello, signed under the pair key (`pair.key`, the heartbeats'
 * secret) over the receiver's nonce and the body. Every later frame is signed under a session key,
 * HMAC(pair key, both nonces), over its direction, its number in the connection and the body: a
 * frame recorded on another connection, replayed, dropped or reordered on this one fails its tag.
 */

export const PROTOCOL_VERSION = 1;
/** A batch of rows is at most this large; a length above it is garbage or hostile, not a frame. */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;
/**
 * Ranges in a resume. Held rows are rarely contiguous (evidence parts and telemetry take the seqs
 * between alerts), so a hub down for long can leave more: the receiver sends the oldest this many.
 */
export const MAX_PENDING_RANGES = 200_000;
/** A hello is a few hundred bytes: before it passes, nobody known is speaking, and a batch's bound would let 8 strangers hold 64 MiB. */
export const MAX_HELLO_BYTES = 16 * 1024;
const TAG_BYTES = 32;
const nonce = z.string().regex(/^[0-9a-f]{32}$/, 'a 16-byte hex nonce');
const seq = z.number().int().min(1);
const source = z.string().regex(/^[0-9a-f-]{8,64}$/, 'a database id');

/** One outbox row: a message for the hub, exactly as the sender would publish it. */
export const replicaRowSchema = z.strictObject({
  seq,
  event_id: z.string().min(1).max(64),
  topic: z.string().min(1).max(512),
  payload: z.string().max(1024 * 1024),
  qos: z.union([z.literal(0), z.literal(1)]),
  priority: z.number().int(),
  /** When the sender committed it (its clock, ms since the epoch). */
  created_at: z.number().int(),
});
export type ReplicaRow = z.infer<typeof replicaRowSchema>;

/** Sender (the device whose outbox is copied) to receiver (its peer). */
export const senderMessageSchema = z.discriminatedUnion('t', [
  z.strictObject({
    t: z.literal('hello'), v: z.literal(PROTOCOL_VERSION), device: z.string().min(1), nonce,
    /** The sender's database (a fresh database, quarantined or lost, has a new one: its seqs start again). */
    source,
    /** The largest outbox seq the sender's database ever handed out: below the receiver's watermark, the database went back in time (restored from an older copy). */
    high: z.number().int().min(0),
  }),
  /** New rows, in seq order; `upto` is the sender's read position (rows in between were not for the peer). */
  z.strictObject({ t: z.literal('rows'), rows: z.array(replicaRowSchema).max(2000), upto: z.number().int().min(0) }),
  /** Rows that left the sender's outbox: delivered to the hub, superseded or evicted. */
  z.strictObject({ t: z.literal('gone'), seqs: z.array(seq).max(20_000) }),
]);
export type SenderMessage = z.infer<typeof senderMessageSchema>;

/** Receiver to sender. */
export const receiverMessageSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('hello'), v: z.literal(PROTOCOL_VERSION), device: z.string().min(1), nonce }),
  /**
   * Where to resume: every row up to `upto` is stored. `pending` lists, as inclusive ranges, the
   * rows the receiver still holds as undelivered, so that the sender can say which of them left
   * its outbox while the two were apart.
   */
  z.strictObject({ t: z.literal('resume'), upto: z.number().int().min(0), pending: z.array(z.tuple([seq, seq])).max(MAX_PENDING_RANGES) }),
  /** Rows up to `upto` are committed in the receiver's file (synchronous=FULL). */
  z.strictObject({ t: z.literal('ack'), upto: z.number().int().min(0) }),
]);
export type ReceiverMessage = z.infer<typeof receiverMessageSchema>;

export const newNonce = (): string => randomBytes(16).toString('hex');

type Direction = 's' | 'r';

/** The signing state of one side of one connection. */
export class FrameSigner {
  private session: Buffer | null = null;
  private sent = 0;
  private received = 0;

  constructor(private readonly key: string, private readonly own: Direction) {}

  /** Both nonces known: from now on every frame is signed under the session key. */
  open(senderNonce: string, receiverNonce: string): void {
    this.session = createHmac('sha256', this.key).update(`vigil pair replica|${senderNonce}|${receiverNonce}`).digest();
  }

  /** A hello: signed under the pair key over the peer's nonce ('' for the receiver's, which is first). */
  hello(body: object, peerNonce: string): Buffer {
    return frame(Buffer.from(JSON.stringify(body)), (b) => createHmac('sha256', this.key).update(`hello|${peerNonce}|`).update(b).digest());
  }

  encode(body: object): Buffer {
    const session = this.session;
    if (session === null) throw new Error('replica session not open');
    const n = this.sent++;
    return frame(Buffer.from(JSON.stringify(body)), (b) => sessionTag(session, this.own, n, b));
  }

  /** Whether `tag` signs a hello `body` over our nonce. */
  checkHello(body: Buffer, tag: Buffer, ownNonce: string): boolean {
    return equalTag(tag, createHmac('sha256', this.key).update(`hello|${ownNonce}|`).update(body).digest());
  }

  check(body: Buffer, tag: Buffer): boolean {
    const session = this.session;
    if (session === null) return false;
    const other: Direction = this.own === 's' ? 'r' : 's';
    const ok = equalTag(tag, sessionTag(session, other, this.received, body));
    if (ok) this.received += 1;
    return ok;
  }
}

function sessionTag(session: Buffer, dir: Direction, n: number, body: Buffer): Buffer {
  return createHmac('sha256', session).update(`${dir}|${n}|`).update(body).digest();
}

function equalTag(a: Buffer, b: Buffer): boolean {
  return a.length === TAG_BYTES && timingSafeEqual(a, b);
}

function frame(body: Buffer, sign: (body: Buffer) => Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body, sign(body)]);
}

/** Splits a TCP byte stream into frames; a length beyond the bound is an error, not a wait for 4 GiB. */
export class FrameReader {
  private buffered: Buffer[] = [];
  private size = 0;

  /** Adds bytes; returns the complete frames now readable, or an error that ends the connection. */
  push(chunk: Buffer, max = MAX_FRAME_BYTES): { frames: { body: Buffer; tag: Buffer }[] } | { error: string } {
    this.buffered.push(chunk);
    this.size += chunk.length;
    const frames: { body: Buffer; tag: Buffer }[] = [];
    let data = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    while (data.length >= 4) {
      const length = data.readUInt32BE(0);
      if (length > max) return { error: `frame of ${length} bytes (the bound is ${max})` };
      const end = 4 + length + TAG_BYTES;
      if (data.length < end) break;
      frames.push({ body: data.subarray(4, 4 + length), tag: data.subarray(4 + length, end) });
      data = data.subarray(end);
    }
    this.buffered = data.length > 0 ? [data] : [];
    this.size = data.length;
    return { frames };
  }
}

/** Parses a verified body against a schema; the error names what was wrong, for the log. */
export function parseBody<T>(body: Buffer, schema: z.ZodType<T>): { message: T } | { error: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { error: 'not JSON' };
  }
  const result = schema.safeParse(parsed);
  if (result.success) return { message: result.data };
  const issue = result.error.issues[0];
  return { error: `not a replica message: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}` };
}

/** Sorted seqs as inclusive ranges (a backlog of undelivered rows is mostly contiguous). */
export function toRanges(seqs: Iterable<number>): [number, number][] {
  const ranges: [number, number][] = [];
  for (const s of seqs) {
    const last = ranges.at(-1);
    if (last && s === last[1] + 1) last[1] = s;
    else ranges.push([s, s]);
  }
  return ranges;
}
