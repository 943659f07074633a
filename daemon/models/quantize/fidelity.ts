import { iou } from '../../analytics/tracker/iou.js';
import type { Detection } from '../../inference/types.js';

export interface Fidelity {
  /** mAP@0.5 of the INT8 detections with the fp32 detections (at the rule threshold) as ground truth. */
  map50: number;
  /** Share of the fp32 boxes at the rule threshold that INT8 finds at the same threshold (same label, IoU >= 0.5). */
  recall: number;
  frames: number;
  /** fp32 boxes at the rule threshold: what the figures rest on. */
  referenceBoxes: number;
}

const IOU = 0.5;

/** All-point interpolated average precision of one class. */
function averagePrecision(scored: { score: number; tp: boolean }[], positives: number): number {
  if (positives === 0) return NaN;
  scored.sort((a, b) => b.score - a.score);
  const precision: number[] = [];
  const recall: number[] = [];
  let tp = 0;
  scored.forEach((s, i) => {
    if (s.tp) tp++;
    precision.push(tp / (i + 1));
    recall.push(tp / positives);
  });
  for (let i = precision.length - 2; i >= 0; i--) precision[i] = Math.max(precision[i] as number, precision[i + 1] as number);
  let ap = 0;
  let prev = 0;
  recall.forEach((r, i) => { ap += (r - prev) * (precision[i] as number); prev = r; });
  return ap;
}

/** Greedy matching by score: each reference box counts for at most one candidate. */
function match(reference: readonly Detection[], candidates: readonly Detection[]): boolean[] {
  const used = new Array<boolean>(reference.length).fill(false);
  const order = candidates.map((_, i) => i).sort((a, b) => (candidates[b]?.score ?? 0) - (candidates[a]?.score ?? 0));
  const tp = new Array<boolean>(candidates.length).fill(false);
  for (const ci of order) {
    const c = candidates[ci] as Detection;
    let best = -1;
    let bestIou = IOU;
    reference.forEach((r, ri) => {
      if (used[ri] || r.label !== c.label) return;
      const o = iou(r.box, c.box);
      if (o >= bestIou) { best = ri; bestIou = o; }
    });
    if (best >= 0) { used[best] = true; tp[ci] = true; }
  }
  return tp;
}

/**
 * Compares INT8 with fp32 frame by frame. Both hold detections down to a low score; the fp32 ones
 * at or above `threshold` (the rule threshold) are the ground truth. An INT8 box that matches no
 * ground truth but matches an fp32 box below the threshold is ignored rather than counted false:
 * fp32 saw it too, and a score moving from 0.34 to 0.36 is not a disagreement about the scene.
 */
export function compareDetections(referenceAll: readonly (readonly Detection[])[], candidates: readonly (readonly Detection[])[],
  threshold: number): Fidelity {
  const reference = referenceAll.map((r) => r.filter((d) => d.score >= threshold));
  const perClass = new Map<string, { scored: { score: number; tp: boolean }[]; positives: number }>();
  const entry = (label: string): { scored: { score: number; tp: boolean }[]; positives: number } => {
    let e = perClass.get(label);
    if (e === undefined) perClass.set(label, e = { scored: [], positives: 0 });
    return e;
  };
  let found = 0;
  let total = 0;
  reference.forEach((ref, f) => {
    const cand = candidates[f] ?? [];
    for (const r of ref) entry(r.label).positives++;
    const below = (referenceAll[f] ?? []).filter((d) => d.score < threshold);
    const tps = match(ref, cand);
    const unmatched = cand.filter((_, i) => !tps[i]);
    const seenBelow = match(below, unmatched);
    const ignored = new Set(unmatched.filter((_, i) => seenBelow[i]));
    tps.forEach((tp, i) => {
      const c = cand[i] as Detection;
      if (!ignored.has(c)) entry(c.label).scored.push({ score: c.score, tp });
    });
    const atThreshold = cand.filter((c) => c.score >= threshold);
    found += match(ref, atThreshold).filter(Boolean).length;
    total += ref.length;
  });
  const aps = [...perClass.values()].map((e) => averagePrecision(e.scored, e.positives)).filter((x) => !Number.isNaN(x));
  return {
    map50: aps.length === 0 ? 1 : aps.reduce((a, b) => a + b, 0) / aps.length,
    recall: total === 0 ? 1 : found / total,
    frames: reference.length,
    referenceBoxes: total,
  };
}
