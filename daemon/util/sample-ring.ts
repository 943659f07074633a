/** p50 and p95 of the samples in a ring, and how many there were. */
export interface Percentiles {
  p50: number;
  p95: number;
  samples: number;
}

/**
 * The last `capacity` samples of a measurement (inference time, say), kept for percentiles.
 * A mean hides the slow frames an operator cares about, and a ring costs one array write per
 * sample on the frame path; the sort happens only when someone reads the percentiles.
 */
export class SampleRing {
  private readonly values: Float64Array;
  private next = 0;
  private count = 0;

  constructor(readonly capacity = 256) {
    this.values = new Float64Array(Math.max(1, capacity));
  }

  push(value: number): void {
    if (!Number.isFinite(value)) return;
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.values.length;
    if (this.count < this.values.length) this.count += 1;
  }

  /** Nearest-rank quantiles (0..1) of the samples held now, in the order asked; null before the first sample. */
  quantiles(qs: readonly number[]): number[] | null {
    if (this.count === 0) return null;
    const sorted = this.values.slice(0, this.count).sort();
    return qs.map((q) => sorted[Math.min(this.count - 1, Math.max(0, Math.ceil(q * this.count) - 1))] ?? 0);
  }

  /** Nearest-rank percentiles of the samples held now; null before the first sample. */
  percentiles(): Percentiles | null {
    if (this.count === 0) return null;
    const sorted = this.values.slice(0, this.count).sort();
    const rank = (q: number): number => sorted[Math.min(this.count - 1, Math.max(0, Math.ceil(q * this.count) - 1))] ?? 0;
    return { p50: rank(0.5), p95: rank(0.95), samples: this.count };
  }
}
