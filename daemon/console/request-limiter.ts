/**
 * Requests per client address: a token bucket of `burst` requests refilled at `perSecond`. What a
 * page needs (a few live tiles, their overlays, the event list) stays far below it; a client
 * hammering the API gets a 429 answered before any routing, session lookup or JSON parsing, so a
 * request flood from one address costs the daemon little. At most MAX_ADDRESSES buckets, the
 * least recently used dropped first.
 */
const MAX_ADDRESSES = 10_000;

export class RequestLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly perSecond: number, private readonly burst: number, private readonly now: () => number = Date.now) {}

  /** True when the address may make a request now (and takes a token for it). */
  take(address: string): boolean {
    const at = this.now();
    const b = this.buckets.get(address) ?? { tokens: this.burst, at };
    b.tokens = Math.min(this.burst, b.tokens + ((at - b.at) / 1000) * this.perSecond);
    b.at = at;
    this.buckets.delete(address);
    this.buckets.set(address, b);
    if (this.buckets.size > MAX_ADDRESSES) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
