/**
 * Login throttling per user name and per client address: the first `freeFailures` failures cost
 * nothing, each one after that makes the next attempt wait twice as long (1 s, 2 s, 4 s ... at most
 * 15 min). A success clears the user's and the address's record. Both keys are checked, so that
 * one address cannot try many names quickly and many addresses cannot try one name quickly.
 * Bounded: at most MAX_KEYS records, the oldest dropped first.
 */
const MAX_KEYS = 10_000;
const MAX_DELAY_MS = 15 * 60_000;
/** A record without a failure for this long is forgotten. */
const FORGET_MS = 60 * 60_000;

interface Record {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
}

export class LoginThrottle {
  private readonly records = new Map<string, Record>();

  constructor(private readonly freeFailures: number, private readonly now: () => number = Date.now) {}

  /** Milliseconds to wait before trying again (0: may try now). */
  retryAfterMs(user: string, address: string): number {
    const at = this.now();
    return Math.max(0, ...[this.get(`u:${user}`, at), this.get(`a:${address}`, at)].map((r) => (r ? r.blockedUntil - at : 0)));
  }

  failed(user: string, address: string): void {
    const at = this.now();
    for (const key of [`u:${user}`, `a:${address}`]) {
      const r = this.get(key, at) ?? { failures: 0, lastFailureAt: at, blockedUntil: 0 };
      r.failures += 1;
      r.lastFailureAt = at;
      const over = r.failures - this.freeFailures;
      r.blockedUntil = over > 0 ? at + Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.min(over - 1, 30)) : 0;
      this.records.delete(key);
      this.records.set(key, r);
      if (this.records.size > MAX_KEYS) {
        const oldest = this.records.keys().next().value;
        if (oldest !== undefined) this.records.delete(oldest);
      }
    }
  }

  succeeded(user: string, address: string): void {
    this.records.delete(`u:${user}`);
    this.records.delete(`a:${address}`);
  }

  private get(key: string, at: number): Record | undefined {
    const r = this.records.get(key);
    if (r && at - r.lastFailureAt > FORGET_MS && r.blockedUntil <= at) {
      this.records.delete(key);
      return undefined;
    }
    return r;
  }
}
