/**
 * Events per second over the last `windowS` whole seconds, kept as one counter per second so that
 * a drain of thousands of messages a second costs one map update each, not one timestamp each.
 */
export class RateMeter {
  private readonly perSecond = new Map<number, number>();

  constructor(private readonly windowS = 10, private readonly now: () => number = Date.now) {}

  add(n = 1): void {
    const second = Math.floor(this.now() / 1000);
    this.perSecond.set(second, (this.perSecond.get(second) ?? 0) + n);
    if (this.perSecond.size > this.windowS + 2) this.prune(second);
  }

  /** The current, partial second is left out, so that the rate does not dip at each second's start. */
  rate(): number {
    const second = Math.floor(this.now() / 1000);
    this.prune(second);
    let sum = 0;
    for (const [s, n] of this.perSecond) if (s < second) sum += n;
    return sum / this.windowS;
  }

  private prune(second: number): void {
    for (const s of this.perSecond.keys()) if (s < second - this.windowS) this.perSecond.delete(s);
  }
}
