import { createServer, type Server, type Socket } from 'node:net';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { PeerCopy } from './peer-replica-copy.js';
import {
  FrameReader, FrameSigner, MAX_FRAME_BYTES, MAX_HELLO_BYTES, MAX_PENDING_RANGES, PROTOCOL_VERSION, newNonce, parseBody, senderMessageSchema, toRanges, type SenderMessage,
} from './peer-replica-protocol.js';

export interface ReceiverOptions {
  listen: { host: string; port: number };
  key: string;
  /** This device's id (in its hello) and the only device whose stream is taken. */
  device: string;
  peer: string;
  copy: PeerCopy;
  log: Logger;
  now?: () => number;
}

/** A connection must say who it is within this long. */
const HELLO_TIMEOUT_MS = 5000;
/** How often the copy's commits are made durable against a power cut. */
const SYNC_EVERY_MS = 1000;
/** Connections open at once, authenticated or not. */
const MAX_CONNECTIONS = 8;
/** Refused connections are logged once per this long, so that a port scan cannot flood the journal. */
const REFUSAL_LOG_EVERY_MS = 10_000;

/**
 * The standby side of the replica stream: accepts the peer's connection on `pair.replica.listen`,
 * checks its hello against the pair key, and stores each batch of rows before acknowledging it.
 * One sender at a time (a newer authenticated connection replaces the older). Anything that fails
 * (a wrong key, a garbled or replayed frame, a frame beyond the bound, a message of the wrong
 * shape) closes that connection with one log line naming the address and why; vigild goes on.
 */
export class ReplicaReceiver {
  private server: Server | null = null;
  private current: Socket | null = null;
  private readonly now: () => number;
  refused = 0;
  lastRefusal: string | null = null;
  private lastRefusalLog = 0;
  /** When the last batch was stored (wall clock, ms). */
  lastRowsAt: number | null = null;
  received = 0;
  /** Event-loop time spent on the peer's frames (verify, parse, commit), ms. */
  busyMs = 0;

  constructor(private readonly opts: ReceiverOptions) {
    this.now = opts.now ?? Date.now;
  }

  async start(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    server.on('error', (err) => this.opts.log.error({ err: errorMessage(err) }, 'pair replica listener failed'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.listen.port, this.opts.listen.host, () => { server.off('error', reject); resolve(); });
    });
    this.server = server;
    this.syncTimer = setInterval(() => {
      const t0 = performance.now();
      try {
        this.opts.copy.sync();
      } catch (err) {
        this.opts.log.warn({ err: errorMessage(err) }, 'pair replica: the copy could not be synced');
      } finally {
        this.busyMs += performance.now() - t0;
      }
    }, SYNC_EVERY_MS);
    this.syncTimer.unref();
  }

  private syncTimer: NodeJS.Timeout | undefined;

  get port(): number {
    const a = this.server?.address();
    return a && typeof a !== 'string' ? a.port : 0;
  }

  get connected(): boolean {
    return this.current !== null && !this.current.destroyed;
  }

  async stop(): Promise<void> {
    clearInterval(this.syncTimer);
    for (const socket of this.open) socket.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private readonly open = new Set<Socket>();

  private accept(socket: Socket): void {
    // The one sender needs one connection (two while a new one replaces a dead one); more is a flood.
    if (this.open.size >= MAX_CONNECTIONS) {
      socket.on('error', () => undefined);
      socket.destroy();
      this.refused += 1;
      this.lastRefusal = `${socket.remoteAddress ?? '?'}: more than ${MAX_CONNECTIONS} connections at once`;
      return;
    }
    socket.setNoDelay(true);
    // A sender behind a pulled cable never says goodbye: keepalive probes end the connection.
    socket.setKeepAlive(true, 5000);
    this.open.add(socket);
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const signer = new FrameSigner(this.opts.key, 'r');
    const reader = new FrameReader();
    const nonce = newNonce();
    let source: string | null = null;
    const timer = setTimeout(() => refuse('no hello within 5 s'), HELLO_TIMEOUT_MS);
    timer.unref();
    const refuse = (why: string): void => {
      clearTimeout(timer);
      if (socket.destroyed) return;
      socket.destroy();
      this.refused += 1;
      this.lastRefusal = `${remote}: ${why}`;
      const now = this.now();
      if (now - this.lastRefusalLog >= REFUSAL_LOG_EVERY_MS) {
        this.lastRefusalLog = now;
        this.opts.log.warn({ remote, reason: why, refused: this.refused }, 'pair replica connection refused');
      }
    };
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      this.open.delete(socket);
      if (this.current === socket) {
        this.current = null;
        this.opts.log.info({ remote }, 'pair replica: the peer\'s stream closed');
      }
    });
    socket.write(signer.hello({ t: 'hello', v: PROTOCOL_VERSION, device: this.opts.device, nonce }, ''));
    const onData = (chunk: Buffer): void => {
      const read = reader.push(chunk, source === null ? MAX_HELLO_BYTES : MAX_FRAME_BYTES);
      if ('error' in read) {
        refuse(source === null ? `${read.error} before the hello` : read.error);
        return;
      }
      for (const f of read.frames) {
        if (socket.destroyed) return;
        try {
          if (source === null) {
            if (!signer.checkHello(f.body, f.tag, nonce)) return refuse('bad signature on the hello (another pair key?)');
            const parsed = parseBody(f.body, senderMessageSchema);
            if ('error' in parsed) return refuse(parsed.error);
            const hello = parsed.message;
            if (hello.t !== 'hello') return refuse(`expected a hello, got "${hello.t}"`);
            if (hello.device !== this.opts.peer) return refuse(`hello from device "${hello.device}", expected "${this.opts.peer}"`);
            clearTimeout(timer);
            signer.open(hello.nonce, nonce);
            source = hello.source;
            this.welcome(socket, signer, hello, remote);
            continue;
          }
          if (!signer.check(f.body, f.tag)) return refuse('bad signature (garbled, replayed or reordered frame)');
          const parsed = parseBody(f.body, senderMessageSchema);
          if ('error' in parsed) return refuse(parsed.error);
          const wrong = this.handle(socket, signer, source, parsed.message);
          if (wrong !== null) return refuse(wrong);
        } catch (err) {
          // The copy's file failing (disk full, I/O) ends this connection; the sender resumes later.
          this.opts.log.error({ err: errorMessage(err), remote }, 'pair replica: the peer\'s rows could not be stored');
          socket.destroy();
          return;
        }
      }
    };
    socket.on('data', (chunk: Buffer) => {
      const t0 = performance.now();
      onData(chunk);
      this.busyMs += performance.now() - t0;
    });
  }

  private welcome(socket: Socket, signer: FrameSigner, hello: Extract<SenderMessage, { t: 'hello' }>, remote: string): void {
    const { copy } = this.opts;
    if (copy.watermark(hello.source) > hello.high) {
      this.opts.log.warn({ source: hello.source, upto: copy.watermark(hello.source), high: hello.high },
        'pair replica: the peer\'s database went back in time; the rows held are kept apart and its stream starts again');
      copy.rewind(hello.source, this.now());
    }
    if (this.current && this.current !== socket) this.current.destroy();
    this.current = socket;
    const upto = copy.watermark(hello.source);
    const pending = copy.pending(hello.source);
    this.opts.log.info({ remote, source: hello.source, upto, pending: pending.length }, 'pair replica: the peer\'s stream connected');
    // Beyond the bound the sender refuses the resume, and would at every reconnect: the stream would
    // stop for good. The newer rows held are then not checked this connection (at a takeover they
    // may go out again, the same ids); the next connection checks them once the older ones are gone.
    const ranges = toRanges(pending);
    if (ranges.length > MAX_PENDING_RANGES) {
      this.opts.log.warn({ ranges: ranges.length, sent: MAX_PENDING_RANGES }, 'pair replica: more held rows than a resume carries; the oldest are checked');
      ranges.length = MAX_PENDING_RANGES;
    }
    socket.write(signer.encode({ t: 'resume', upto, pending: ranges }));
  }

  /** Applies one message; returns why the connection must end, or null. */
  private handle(socket: Socket, signer: FrameSigner, source: string, message: SenderMessage): string | null {
    switch (message.t) {
      case 'hello':
        return 'a second hello on one connection';
      case 'rows': {
        const now = this.now();
        this.opts.copy.apply(source, message.rows, message.upto, now);
        this.received += message.rows.length;
        if (message.rows.length > 0) this.lastRowsAt = now;
        socket.write(signer.encode({ t: 'ack', upto: message.upto }));
        return null;
      }
      case 'gone':
        this.opts.copy.gone(source, message.seqs);
        return null;
    }
  }
}
