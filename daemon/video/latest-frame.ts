import type { Frame } from './frame.js';

/**
 * A one-frame mailbox between a pipeline and its single consumer. A new frame replaces one the
 * consumer has not taken yet, and that replaced frame is counted as dropped: a slow consumer sees
 * the newest frame, never a backlog of stale ones.
 */
export class LatestFrameSlot {
  private frame: Frame | null = null;
  private waiter: ((f: Frame | null) => void) | null = null;
  private closed = false;
  private onTaken: (() => void) | null = null;
  dropped = 0;

  /**
   * Calls `fn` once the slot is empty: at once if it is, else when the consumer takes the frame.
   * A paced producer uses it to fetch the next frame only when this one has been taken.
   */
  afterTaken(fn: () => void): void {
    if (this.frame === null) {
      fn();
      return;
    }
    this.onTaken = fn;
  }

  private taken(): void {
    const fn = this.onTaken;
    this.onTaken = null;
    fn?.();
  }

  put(frame: Frame): void {
    if (this.closed) return;
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w(frame);
      return;
    }
    if (this.frame !== null) this.dropped++;
    this.frame = frame;
  }

  /**
   * The newest frame not yet taken, waiting for one if needed. Resolves `null` once the slot is
   * closed (stream stopped or ended) or `signal` aborts. One consumer: a second concurrent call
   * replaces the first, which then resolves `null`.
   */
  next(signal?: AbortSignal): Promise<Frame | null> {
    if (this.frame !== null) {
      const f = this.frame;
      this.frame = null;
      this.taken();
      return Promise.resolve(f);
    }
    if (this.closed || signal?.aborted === true) return Promise.resolve(null);
    this.waiter?.(null);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        if (this.waiter === settle) this.waiter = null;
        resolve(null);
      };
      const settle = (f: Frame | null): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(f);
      };
      this.waiter = settle;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Wakes the consumer with `null` and refuses further frames until `reopen`. */
  close(): void {
    this.closed = true;
    this.frame = null;
    this.onTaken = null;
    const w = this.waiter;
    this.waiter = null;
    w?.(null);
  }

  reopen(): void {
    this.closed = false;
  }
}
