/**
 * Reconnect delays: exponential from `minMs`, capped at `maxMs`, with "equal jitter" (half fixed, half
 * random) so that a fleet that lost the hub at the same moment does not come back at the same moment.
 */
export class Backoff {
  private attempt = 0;

  constructor(private readonly minMs: number, private readonly maxMs: number,
    private readonly random: () => number = Math.random) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    const jittered = ceiling / 2 + this.random() * (ceiling / 2);
    return Math.round(Math.max(this.minMs, Math.min(this.maxMs, jittered)));
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
