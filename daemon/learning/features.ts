/**
 * The feature layout `vigil.fl.features/1`: what the verifier sees of one event. Every device must
 * build it the same way, or the fleet's weights mean nothing: change anything here and the layout
 * gets a new name (FEATURE_SET), which makes devices refuse models of the old one.
 *
 *   [0, 512)   OSNet x0.25 appearance embedding of the object crop, L2-normalised
 *   [512, 536) context, each scaled to about −1..1 (see contextFeatures)
 */
export const EMBEDDING_DIM = 512;

const CLASSES = ['person', 'car', 'bicycle', 'motorcycle', 'bus', 'truck', 'dog'] as const;
const RULE_BUCKETS = 4;
export const CONTEXT_DIM = CLASSES.length + 1 /* other */ + 1 /* score */ + 6 /* box */ + RULE_BUCKETS + 2 /* time */ + 3 /* track */;
export const FEATURE_DIM = EMBEDDING_DIM + CONTEXT_DIM;

export interface EventContext {
  label: string;
  score: number;
  /** x1, y1, x2, y2 in source pixels. */
  box: readonly [number, number, number, number];
  sourceWidth: number;
  sourceHeight: number;
  /** Rule id (zone, line …); hashed into a few buckets, since rule names differ between sites. */
  rule: string;
  /** Frame time, ms since the epoch. */
  ts: number;
  /** Minutes east of UTC for the local time of day; the device's own offset when absent. */
  utcOffsetMin?: number;
  /** Seconds since the track started; absent for untracked detections. */
  trackAgeS?: number;
  /** Speed of the box's bottom centre, source frame heights per second. */
  speed?: number;
}

function hashBucket(s: string, buckets: number): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h % buckets;
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

export function contextFeatures(c: EventContext): Float32Array {
  const out = new Float32Array(CONTEXT_DIM);
  let k = 0;
  const cls = CLASSES.indexOf(c.label as (typeof CLASSES)[number]);
  out[k + (cls >= 0 ? cls : CLASSES.length)] = 1;
  k += CLASSES.length + 1;
  out[k++] = clamp(c.score, 0, 1);
  const W = Math.max(1, c.sourceWidth);
  const H = Math.max(1, c.sourceHeight);
  const [x1, y1, x2, y2] = c.box;
  const w = clamp((x2 - x1) / W, 0, 1);
  const h = clamp((y2 - y1) / H, 0, 1);
  out[k++] = clamp((x1 + x2) / 2 / W, 0, 1) * 2 - 1;
  out[k++] = clamp((y1 + y2) / 2 / H, 0, 1) * 2 - 1;
  out[k++] = w;
  out[k++] = h;
  out[k++] = clamp(Math.log(Math.max(1e-3, (w * W) / Math.max(1e-3, h * H))) / 2, -1, 1);
  out[k++] = Math.sqrt(w * h);
  out[k + hashBucket(c.rule, RULE_BUCKETS)] = 1;
  k += RULE_BUCKETS;
  const offset = c.utcOffsetMin ?? -new Date(c.ts).getTimezoneOffset();
  const minutes = (((c.ts / 60_000 + offset) % 1440) + 1440) % 1440;
  out[k++] = Math.sin((2 * Math.PI * minutes) / 1440);
  out[k++] = Math.cos((2 * Math.PI * minutes) / 1440);
  out[k++] = c.trackAgeS === undefined ? 0 : 1;
  out[k++] = c.trackAgeS === undefined ? 0 : clamp(Math.log1p(c.trackAgeS) / 5, 0, 1);
  out[k++] = c.speed === undefined ? 0 : clamp(Math.log1p(c.speed * 10) / 3, 0, 1);
  return out;
}

export function featureVector(embedding: ArrayLike<number>, context: EventContext): Float32Array {
  if (embedding.length !== EMBEDDING_DIM) throw new Error(`embedding has ${embedding.length} values, expected ${EMBEDDING_DIM}`);
  const out = new Float32Array(FEATURE_DIM);
  out.set(embedding, 0);
  out.set(contextFeatures(context), EMBEDDING_DIM);
  return out;
}
