import type net from 'node:net';
import type { Logger } from '../log.js';
import { errorReply, MAX_REQUEST_BYTES, type Reply } from './protocol.js';

/** How much one control-socket client may make the daemon hold for it. */
export interface ConnectionLimits {
  /** Replies not yet taken by the client above which no further request is read (backpressure). */
  readonly pauseAtBytes: number;
  /** Replies not yet taken above which the connection is closed (a client asking for big replies it never reads). */
  readonly maxQueuedBytes: number;
  /** A client whose unread replies have held its requests back this long without it reading any is disconnected. */
  readonly stallMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { pauseAtBytes: 64 * 1024, maxQueuedBytes: 1024 * 1024, stallMs: 10_000 };

/**
 * One client of the control socket. Requests are handled one at a time, in order, and only while
 * the client takes its replies: once more than `pauseAtBytes` of replies wait in the daemon, the
 * socket stops reading, so a client that pipelines requests and never reads fills its own kernel
 * buffers, not the daemon's memory. If it still reads nothing for `stallMs`, or its unread replies
 * pass `maxQueuedBytes`, it is disconnected. Unparsed input is bounded the same way: reading
 * pauses while a request's worth of bytes waits.
 */
export class ControlConnection {
  private buffered = '';
  private busy = false;
  private waitingForDrain = false;
  private stallTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly socket: net.Socket, private readonly handle: (line: string) => Reply | Promise<Reply>,
    private readonly limits: ConnectionLimits, private readonly log: Logger) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      this.pump();
    });
    socket.on('drain', () => {
      if (!this.waitingForDrain) return;
      this.waitingForDrain = false;
      this.clearStall();
      this.pump();
    });
    socket.on('error', () => undefined); // a client that vanishes mid-reply is its own problem
    socket.on('close', () => {
      this.closed = true;
      this.clearStall();
    });
  }

  /** Handles buffered requests while the client keeps up; otherwise stops reading until it does. */
  private pump(): void {
    if (this.busy || this.closed) return;
    for (;;) {
      if (this.socket.writableLength > this.limits.pauseAtBytes) {
        this.holdForDrain();
        return;
      }
      const nl = this.buffered.indexOf('\n');
      if (nl < 0) break;
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (!line) continue;
      const reply = this.handle(line);
      if (reply instanceof Promise) {
        // Replies leave in the order of their requests, though some (live changes) take a while.
        this.busy = true;
        void reply.then((r) => {
          this.busy = false;
          if (this.send(r)) this.pump();
        });
        this.flowInput();
        return;
      }
      if (!this.send(reply)) return;
    }
    if (this.buffered.length > MAX_REQUEST_BYTES) {
      this.socket.end(`${JSON.stringify(errorReply(null, 'too_large', `request longer than ${MAX_REQUEST_BYTES} bytes`))}\n`);
      this.buffered = '';
      return;
    }
    this.flowInput();
  }

  /** Reads on while the unparsed input stays below one request's worth. */
  private flowInput(): void {
    if (this.waitingForDrain) return;
    if (this.buffered.length > MAX_REQUEST_BYTES) this.socket.pause();
    else this.socket.resume();
  }

  /** Writes one reply; false when the connection was closed for holding too much. */
  private send(reply: Reply): boolean {
    if (this.closed || this.socket.destroyed) return false;
    const text = `${JSON.stringify(reply)}\n`;
    const queued = this.socket.writableLength;
    if (queued > 0 && queued + Buffer.byteLength(text) > this.limits.maxQueuedBytes) {
      this.disconnect(`more than ${this.limits.maxQueuedBytes} bytes of replies unread`);
      return false;
    }
    this.socket.write(text);
    return true;
  }

  private holdForDrain(): void {
    this.waitingForDrain = true;
    this.socket.pause();
    this.stallTimer ??= setTimeout(() => {
      this.stallTimer = null;
      if (this.waitingForDrain) this.disconnect(`replies unread for ${this.limits.stallMs} ms`);
    }, this.limits.stallMs);
  }

  private clearStall(): void {
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimer = null;
  }

  private disconnect(why: string): void {
    this.log.warn({ unread: this.socket.writableLength, why }, 'control client does not read its replies: disconnected');
    this.closed = true;
    this.clearStall();
    this.socket.destroy();
  }
}
