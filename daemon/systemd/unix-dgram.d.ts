/**
 * The part of unix-dgram 2.0.7 that Vigil uses (the package ships no types). Read from its
 * lib/unix_dgram.js: errors from `send` go to the callback when one is given (and are then never
 * emitted), `bind` reports failure through an 'error' event, `close` throws on a bad descriptor.
 */
declare module 'unix-dgram' {
  import type { EventEmitter } from 'node:events';

  export interface UnixDgramError extends Error {
    /** A negative errno, or 1 for 'congestion' (EAGAIN: the receiver's queue is full). */
    code?: number;
    errno?: number;
    syscall?: string;
  }

  export interface UnixDgramSocket extends EventEmitter {
    /** -1 once closed. */
    readonly fd: number;
    bind(path: string): void;
    send(buf: Buffer, offset: number, length: number, path: string, callback?: (err?: UnixDgramError) => void): void;
    close(): void;
    on(event: 'message', listener: (msg: Buffer, rinfo: { size: number; path?: string }) => void): this;
    on(event: 'error', listener: (err: UnixDgramError) => void): this;
    on(event: 'listening' | 'writable', listener: () => void): this;
    on(event: 'congestion', listener: (buf: Buffer) => void): this;
    once(event: 'error', listener: (err: UnixDgramError) => void): this;
    once(event: 'listening', listener: () => void): this;
  }

  export function createSocket(type: 'unix_dgram', listener?: (msg: Buffer) => void): UnixDgramSocket;
}
