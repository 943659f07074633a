import type { Box } from '../../inference/types.js';
import type { CropFrame, Embedder } from '../../learning/embedder.js';

/**
 * How the tracker looks at a frame: embeddings (L2-normalised) of the given boxes, source pixels,
 * in the same order. The tracker asks only for the few crops it cannot decide without.
 */
export type Look = (boxes: readonly Box[]) => Promise<readonly Float32Array[]>;

/** What the appearance cue did since the tracker was made; for the bench, status and tests. */
export interface AppearanceStats {
  /** Frames given to `updateSeeing`. */
  frames: number;
  /** Of those, frames where at least one crop was embedded. */
  looked: number;
  /** Crops embedded in all. */
  crops: number;
  /** Tracks whose first-stage match the appearance term changed (against the same costs without it). */
  changed: number;
  /** Tracks re-found by appearance alone, where no IoU gate let them take their detection. */
  reidentified: number;
  /** Wall time spent waiting for embeddings, ms. */
  lookMs: number;
  /** Frames whose look failed (the model threw, or answered the wrong count): they were tracked on motion alone. */
  lookFailures: number;
  lastLookError?: string;
}

/**
 * A `Look` over one frame through the daemon's OSNet embedder (daemon/learning/embedder.ts). One
 * crop after another: the embedder has one session, and on a small CPU parallel runs only queue.
 */
export function embedderLook(embedder: Pick<Embedder, 'embed'>, frame: CropFrame): Look {
  return async (boxes) => {
    const out: Float32Array[] = [];
    for (const b of boxes) out.push(await embedder.embed(frame, b));
    return out;
  };
}

export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`embeddings of ${a.length} and ${b.length} values cannot be compared`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Deep OC-SORT's confidence-weighted EMA: a crop from a detection at `score` replaces
 * (1 − α) of the track's embedding, with α = α_f + (1 − α_f)(1 − (score − σ)/(1 − σ)), so a
 * barely confident (often partly hidden) crop changes it least. Returns the normalised blend.
 */
export function blendEmbedding(track: Float32Array, crop: Float32Array, score: number, alphaF: number, sigma: number): Float32Array {
  const trust = sigma < 1 ? Math.max(0, Math.min(1, (score - sigma) / (1 - sigma))) : 1;
  const alpha = alphaF + (1 - alphaF) * (1 - trust);
  let n = 0;
  for (let i = 0; i < track.length; i++) {
    const v = alpha * track[i]! + (1 - alpha) * crop[i]!;
    track[i] = v;
    n += v * v;
  }
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < track.length; i++) track[i]! /= n;
  return track;
}
