import { l2norm } from './model.js';

/**
 * Protection of a weight delta before it leaves the device: clipping to an L2 bound (which bounds
 * what one device's data can move the model) and, with differential privacy on, Gaussian noise.
 *
 * Accounting: the Gaussian mechanism under Rényi DP (Mironov 2017). One release with noise
 * multiplier z (σ = z·C) is (α, α/(2z²))-RDP for every order α > 1; T releases compose to
 * (α, T·α/(2z²)); the spent (ε, δ) is min over α of T·α/(2z²) + ln(1/δ)/(α−1). This is device-level
 * (user-level) DP on the sequence of updates, with no amplification by subsampling claimed: every
 * round uses all of the device's labelled events, so the bound is conservative.
 */

const ORDERS: readonly number[] = [1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128, 256, 512, 1024];

/** ε spent after releases with these noise multipliers (they may differ from round to round). */
export function epsilonSpent(noiseMultipliers: readonly number[], delta: number): number {
  if (noiseMultipliers.length === 0) return 0;
  let rdpPerAlpha = 0; // Σ 1/(2z²), multiplied by α below
  for (const z of noiseMultipliers) {
    if (!(z > 0)) return Infinity;
    rdpPerAlpha += 1 / (2 * z * z);
  }
  let best = Infinity;
  for (const a of ORDERS) best = Math.min(best, a * rdpPerAlpha + Math.log(1 / delta) / (a - 1));
  return best;
}

/** The smallest noise multiplier for which `rounds` releases stay within (ε, δ); bisection on the monotone epsilonSpent. */
export function calibrateNoise(epsilon: number, delta: number, rounds: number): number {
  let lo = 1e-3;
  let hi = 1e4;
  for (let i = 0; i < 200; i++) {
    const mid = Math.sqrt(lo * hi);
    if (epsilonSpent(Array.from({ length: rounds }, () => mid), delta) > epsilon) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Scales `v` in place so that its L2 norm is at most `bound`; returns the norm before. */
export function clipInPlace(v: Float64Array, bound: number): number {
  const norm = l2norm(v);
  if (norm > bound && norm > 0) {
    const s = bound / norm;
    for (let i = 0; i < v.length; i++) v[i]! *= s;
  }
  return norm;
}

/** Box–Muller standard normal from a uniform source (crypto-quality in production). */
export function gaussian(random: () => number): number {
  let u = 0;
  while (u === 0) u = random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export function addNoiseInPlace(v: Float64Array, sigma: number, random: () => number): void {
  for (let i = 0; i < v.length; i++) v[i]! += sigma * gaussian(random);
}
