/**
 * The alert verifier: logistic regression over a feature vector, p(true alarm | features).
 * Logistic regression rather than an MLP because FedAvg of a convex model converges to the
 * central optimum even on non-IID data, its weights fit in one small MQTT message (about 2 KiB),
 * and its deltas have a sensitivity that is easy to bound for differential privacy.
 * Weights are `dim` coefficients followed by the bias.
 */

export type Weights = Float64Array;

export function zeroWeights(dim: number): Weights {
  return new Float64Array(dim + 1);
}

export function logit(w: Weights, x: ArrayLike<number>): number {
  const dim = w.length - 1;
  let z = w[dim] ?? 0;
  for (let i = 0; i < dim; i++) z += (w[i] ?? 0) * (x[i] ?? 0);
  return z;
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

export function predict(w: Weights, x: ArrayLike<number>): number {
  return sigmoid(logit(w, x));
}

export interface Sample {
  x: ArrayLike<number>;
  /** 1 true alarm, 0 false alarm. */
  y: 0 | 1;
}

export interface TrainOptions {
  epochs: number;
  learningRate: number;
  /** L2 penalty on the coefficients (not the bias). */
  l2: number;
  batchSize: number;
  /** Seed for the shuffling, so a round can be reproduced. */
  seed: number;
  /**
   * FedProx proximal weight μ: adds μ/2·‖w − start‖² to the local loss, which keeps a device with
   * skewed data from drifting far from the global model within a round (Li et al. 2020). 0: FedAvg.
   */
  prox?: number;
  /**
   * A separate L2 penalty for the first `dims` coefficients (the appearance embedding). With a few
   * hundred reviews, 512 appearance dimensions can memorise who was in the picture instead of what
   * made an alert false; on the plaza clip (scripts/fl-pedestrians.ts) a stronger penalty on them
   * took the false alarms kept back at 95 % of true alarms from 48 % to 70 %.
   */
  block?: { dims: number; l2: number };
}

export const DEFAULT_TRAIN: TrainOptions = { epochs: 5, learningRate: 0.5, l2: 1e-3, batchSize: 32, seed: 1 };

/** mulberry32: a small seeded PRNG; Math.random cannot be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Mini-batch gradient descent on the log loss, starting from `start` (the global model, so the
 * difference is the update a device sends). Work is bounded by epochs × samples × dim.
 */
export function train(start: Weights, samples: readonly Sample[], opts: TrainOptions): Weights {
  const w = Float64Array.from(start);
  const dim = w.length - 1;
  const n = samples.length;
  if (n === 0) return w;
  const order = Array.from({ length: n }, (_, i) => i);
  const rand = seededRandom(opts.seed);
  const grad = new Float64Array(dim + 1);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    for (let b = 0; b < n; b += opts.batchSize) {
      grad.fill(0);
      const end = Math.min(n, b + opts.batchSize);
      for (let k = b; k < end; k++) {
        const s = samples[order[k]!]!;
        const err = predict(w, s.x) - s.y;
        for (let i = 0; i < dim; i++) grad[i]! += err * (s.x[i] ?? 0);
        grad[dim]! += err;
      }
      const m = end - b;
      const mu = opts.prox ?? 0;
      const blockDims = opts.block?.dims ?? 0;
      const blockL2 = opts.block?.l2 ?? opts.l2;
      for (let i = 0; i < dim; i++) {
        const l2 = i < blockDims ? blockL2 : opts.l2;
        w[i]! -= opts.learningRate * (grad[i]! / m + l2 * w[i]! + mu * (w[i]! - start[i]!));
      }
      w[dim]! -= opts.learningRate * (grad[dim]! / m + mu * (w[dim]! - start[dim]!));
    }
  }
  return w;
}

export function accuracy(w: Weights, samples: readonly Sample[], threshold = 0.5): number | null {
  if (samples.length === 0) return null;
  let right = 0;
  for (const s of samples) if ((predict(w, s.x) >= threshold ? 1 : 0) === s.y) right++;
  return right / samples.length;
}

export function subtract(a: Weights, b: Weights): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! - (b[i] ?? 0);
  return out;
}

export function l2norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] ?? 0) ** 2;
  return Math.sqrt(s);
}

/** Float32 little-endian, base64: the wire form of weights and deltas. */
export function encodeVector(v: ArrayLike<number>): Buffer {
  const f = Float32Array.from(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

export function decodeVector(buf: Buffer, expectedLength: number, what: string): Float64Array {
  if (buf.length !== expectedLength * 4) {
    throw new Error(`${what}: expected ${expectedLength} float32 values (${expectedLength * 4} bytes), got ${buf.length} bytes`);
  }
  const out = new Float64Array(expectedLength);
  for (let i = 0; i < expectedLength; i++) {
    const v = buf.readFloatLE(i * 4);
    if (!Number.isFinite(v)) throw new Error(`${what}: value ${i} is not a finite number`);
    out[i] = v;
  }
  return out;
}
