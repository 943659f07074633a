/** A decoded detection before NMS, in model-input pixels. */
export interface Candidate {
  classId: number;
  score: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

type Rect = Pick<Candidate, 'x1' | 'y1' | 'x2' | 'y2'>;

export function iou(a: Rect, b: Rect): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy per-class non-maximum suppression: a candidate is dropped when it overlaps a
 * higher-scoring kept candidate of the same class by more than `iouThreshold`. Classes are kept
 * apart because a person on a bicycle is two objects whose boxes overlap heavily.
 * Returns at most `maxDetections`, highest score first.
 */
export function nms(candidates: readonly Candidate[], iouThreshold: number, maxDetections: number): Candidate[] {
  const sorted = [...candidates].sort((a, b) => b.score - a.score);
  const keptByClass = new Map<number, Candidate[]>();
  const kept: Candidate[] = [];
  for (const c of sorted) {
    if (kept.length >= maxDetections) break;
    let same = keptByClass.get(c.classId);
    if (same === undefined) {
      same = [];
      keptByClass.set(c.classId, same);
    }
    if (same.some((k) => iou(k, c) > iouThreshold)) continue;
    same.push(c);
    kept.push(c);
  }
  return kept;
}
