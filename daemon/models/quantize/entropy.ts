/**
 * Entropy (KL-divergence) calibration: the clipping threshold whose quantized distribution loses
 * the least information against the tensor's real one, after the calibrator TensorRT describes.
 *
 * The input is a histogram of |x| over [0, max|x|]. For a candidate threshold at bin `i`, the
 * reference P is the first `i` bins with every value beyond folded into the last one (clipping
 * puts them there); Q is the same bins merged into as many groups as the 8-bit grid has levels over
 * [0, threshold], each group's count spread evenly over its non-empty bins (an empty bin stays
 * empty: the grid cannot make a value appear where there was none). The threshold with the smallest
 * KL(P‖Q) wins: a small one clips much (P's last bin grows, Q cannot follow), a large one spreads
 * the levels thin over values that almost never occur.
 *
 * Levels: TensorRT's int8 activations are symmetric, so |x| up to the threshold gets 128 levels.
 * Ours are uint8 and asymmetric over [max(min, −T), T]: the grid's 255 steps cover T + |lo|, so
 * [0, T] holds 255·T / (T + |lo|) of them — 255 for a one-signed tensor (after ReLU or sigmoid),
 * about 128 for one as negative as positive, in between for LeakyReLU's short negative side. The
 * step on the negative side is the same, so folding negatives into |x| models the grid exactly
 * (but for the zero point's rounding).
 */
export interface EntropyThreshold {
  /** The chosen threshold on |x|. */
  threshold: number;
  /** The bin index the threshold ends at (threshold = bins × width). */
  bins: number;
  kl: number;
  levels: number;
}

/** The 8-bit grid's levels over [0, t] for a tensor whose most negative value is `min`. */
export function levelsFor(t: number, min: number): number {
  const neg = Math.min(Math.max(-min, 0), t);
  return Math.max(1, Math.round((255 * t) / (t + neg)));
}

/**
 * The KL-minimising threshold on a histogram of |x| (`hist[k]` counts |x| in [k·width, (k+1)·width)).
 * `levels(t)` gives the grid's level count over [0, t]. Candidates start where each level spans at
 * least one bin, so a grid finer than the histogram never wins by an artefact of the binning.
 */
export function entropyThreshold(hist: ArrayLike<number>, width: number, levels: (t: number) => number): EntropyThreshold {
  const n = hist.length;
  let last = n;
  while (last > 0 && (hist[last - 1] as number) === 0) last--;
  if (last === 0) return { threshold: 0, bins: 0, kl: 0, levels: levels(0) };
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  let best: EntropyThreshold = { threshold: last * width, bins: last, kl: Infinity, levels: levels(last * width) };
  // Counts beyond a candidate, kept as a running sum from the top.
  const beyond = new Float64Array(n + 1);
  for (let k = n - 1; k >= 0; k--) beyond[k] = (beyond[k + 1] as number) + (hist[k] as number);
  const first = Math.min(last, Math.max(levels(n * width), 1));
  for (let i = first; i <= last; i++) {
    const lv = Math.min(levels(i * width), i);
    let total = 0;
    for (let k = 0; k < i; k++) { p[k] = hist[k] as number; total += p[k] as number; }
    p[i - 1] = (p[i - 1] as number) + (beyond[i] as number);
    total += beyond[i] as number;
    // Q from the unclipped bins: the clipped mass is exactly what the grid cannot represent.
    for (let g = 0; g < lv; g++) {
      const a = Math.floor((g * i) / lv);
      const b = Math.floor(((g + 1) * i) / lv);
      let sum = 0;
      let used = 0;
      for (let k = a; k < b; k++) { sum += hist[k] as number; if ((p[k] as number) > 0) used++; }
      const each = used > 0 ? sum / used : 0;
      for (let k = a; k < b; k++) q[k] = (p[k] as number) > 0 ? each : 0;
    }
    let qTotal = 0;
    for (let k = 0; k < i; k++) qTotal += q[k] as number;
    let kl = 0;
    for (let k = 0; k < i; k++) {
      const pk = p[k] as number;
      if (pk === 0) continue;
      // A bin only the clipped values fill has no counterpart in Q: a tiny floor keeps the
      // divergence finite and large, instead of ruling the candidate out altogether.
      const qk = Math.max((q[k] as number) / qTotal, 1e-12);
      const pn = pk / total;
      kl += pn * Math.log(pn / qk);
    }
    if (kl < best.kl) best = { threshold: i * width, bins: i, kl, levels: lv };
  }
  return best;
}
