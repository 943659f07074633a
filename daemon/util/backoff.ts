/**
 * Restart delays that grow exponentially from `minMs` to `maxMs`, with full jitter so that cameras
 * behind one failed switch do not all reconnect in the same instant. After `healthyAfterMs` of
 * uninterrupted success the next failure starts from `minMs` again.
 */
export interface BackoffOptions {
  readonly minMs: number;
  readonly maxMs: number;
  readonly healthyAfterMs: number;
  /** Uniform in [0, 1); injectable so that tests get exact delays. */
  readonly random?: () => number;
  readonly now?: () => number;
}

export class Backoff {
  private failures = 0;
  private healthySince: number | null = null;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly opts: BackoffOptions) {
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
  }

  /** Consecutive failures counted towards the current delay. */
  get attempts(): number {
    return this.failures;
  }

  /** The source is working (frames flowing) from now on. Idempotent. */
  succeeded(): void {
    this.healthySince ??= this.now();
  }

  /** Records a failure and returns how long to wait before the next attempt. */
  failed(): number {
    if (this.healthySince !== null && this.now() - this.healthySince >= this.opts.healthyAfterMs) this.failures = 0;
    this.healthySince = null;
    const min = Math.min(this.opts.minMs, this.opts.maxMs);
    // 2 ** 30 already exceeds any sensible cap; stop the exponent growing without bound.
    const cap = Math.min(this.opts.maxMs, min * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return Math.round(min + this.random() * (cap - min));
  }

  reset(): void {
    this.failures = 0;
    this.healthySince = null;
  }
}
