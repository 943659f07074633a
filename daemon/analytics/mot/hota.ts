import { AssignmentSolver } from '../tracker/assignment.js';
import { iou } from '../tracker/iou.js';
import type { MotRow } from './format.js';
import { IOU_EPS } from './preprocess.js';

/** HOTA and its parts, each the mean over the localisation thresholds α = 0.05, 0.10, ..., 0.95. */
export interface HotaScores {
  hota: number;
  /** Detection accuracy: TP / (TP + FN + FP). */
  detA: number;
  /** Association accuracy: per matched pair, how much its two identities' tracks agree. */
  assA: number;
  /** Localisation accuracy: mean IoU of the matches. */
  locA: number;
  detRe: number;
  detPr: number;
  assRe: number;
  assPr: number;
}

/** α = 0.05 ... 0.95, built as TrackEval's `np.arange(0.05, 0.99, 0.05)` builds it (same float steps). */
export const HOTA_ALPHAS: readonly number[] = Array.from({ length: 19 }, (_, k) => 0.05 + k * 0.05);

interface Frame {
  gt: Int32Array;
  hyp: Int32Array;
  sim: Float64Array;
}

/**
 * HOTA (Luiten et al., IJCV 2021) over one sequence, ratios 0..1. Every frame is matched once by an
 * optimal assignment that maximises IoU weighted by how well the two identities align over the
 * whole sequence; each α then keeps the pairs at IoU ≥ α. The frames are in any order: HOTA, unlike
 * CLEAR MOT, has no notion of the previous frame.
 */
export function hotaScores(gtFrames: ReadonlyMap<number, readonly MotRow[]>, hypFrames: ReadonlyMap<number, readonly MotRow[]>): HotaScores {
  const gtIndex = new Map<number, number>();
  const hypIndex = new Map<number, number>();
  const index = (map: Map<number, number>, id: number): number => {
    let k = map.get(id);
    if (k === undefined) { k = map.size; map.set(id, k); }
    return k;
  };
  let gtDets = 0;
  let hypDets = 0;
  const frames: Frame[] = [];
  for (const f of new Set([...gtFrames.keys(), ...hypFrames.keys()])) {
    const gts = gtFrames.get(f) ?? [];
    const hyps = hypFrames.get(f) ?? [];
    gtDets += gts.length;
    hypDets += hyps.length;
    const sim = new Float64Array(gts.length * hyps.length);
    gts.forEach((g, i) => hyps.forEach((h, j) => { sim[i * hyps.length + j] = iou(g.box, h.box); }));
    frames.push({ gt: Int32Array.from(gts, (g) => index(gtIndex, g.id)), hyp: Int32Array.from(hyps, (h) => index(hypIndex, h.id)), sim });
  }
  const A = HOTA_ALPHAS.length;
  const mean = (v: Float64Array): number => v.reduce((s, x) => s + x, 0) / v.length;
  if (hypDets === 0 || gtDets === 0) {
    // TrackEval's convention for an empty side: nothing detected, nothing associated, LocA 1.
    return { hota: 0, detA: 0, assA: 0, locA: 1, detRe: 0, detPr: 0, assRe: 0, assPr: 0 };
  }

  const nG = gtIndex.size;
  const nH = hypIndex.size;
  const gtCount = new Float64Array(nG);
  const hypCount = new Float64Array(nH);
  // Soft co-occurrence of each identity pair: per frame, the pair's IoU normalised against all
  // others the two boxes overlap, so a box shared by two candidates counts half for each.
  const potential = new Float64Array(nG * nH);
  for (const { gt, hyp, sim } of frames) {
    const cols = hyp.length;
    const rowSum = new Float64Array(gt.length);
    const colSum = new Float64Array(cols);
    for (let i = 0; i < gt.length; i++) for (let j = 0; j < cols; j++) { rowSum[i]! += sim[i * cols + j]!; colSum[j]! += sim[i * cols + j]!; }
    for (let i = 0; i < gt.length; i++) {
      for (let j = 0; j < cols; j++) {
        const s = sim[i * cols + j]!;
        const denom = rowSum[i]! + colSum[j]! - s;
        if (denom > IOU_EPS) potential[gt[i]! * nH + hyp[j]!]! += s / denom;
      }
    }
    for (const g of gt) gtCount[g]! += 1;
    for (const h of hyp) hypCount[h]! += 1;
  }
  const alignment = new Float64Array(nG * nH);
  for (let g = 0; g < nG; g++) {
    for (let h = 0; h < nH; h++) {
      const p = potential[g * nH + h]!;
      alignment[g * nH + h] = p / (gtCount[g]! + hypCount[h]! - p);
    }
  }

  const tp = new Float64Array(A);
  const fn = new Float64Array(A);
  const fp = new Float64Array(A);
  const locSum = new Float64Array(A);
  const matches = Array.from({ length: A }, () => new Float64Array(nG * nH));
  const solver = new AssignmentSolver();
  for (const { gt, hyp, sim } of frames) {
    const cols = hyp.length;
    if (gt.length === 0 || cols === 0) {
      for (let a = 0; a < A; a++) { fp[a]! += cols; fn[a]! += gt.length; }
      continue;
    }
    const cost = new Float64Array(gt.length * cols);
    for (let i = 0; i < gt.length; i++) for (let j = 0; j < cols; j++) cost[i * cols + j] = -alignment[gt[i]! * nH + hyp[j]!]! * sim[i * cols + j]!;
    const assigned = Array.from(solver.solve(cost, gt.length, cols));
    for (let a = 0; a < A; a++) {
      const alpha = HOTA_ALPHAS[a]!;
      let n = 0;
      assigned.forEach((j, i) => {
        if (j < 0) return;
        const s = sim[i * cols + j]!;
        if (s < alpha - IOU_EPS) return;
        n += 1;
        locSum[a]! += s;
        matches[a]![gt[i]! * nH + hyp[j]!]! += 1;
      });
      tp[a]! += n;
      fn[a]! += gt.length - n;
      fp[a]! += cols - n;
    }
  }

  const per = { hota: new Float64Array(A), detA: new Float64Array(A), assA: new Float64Array(A), locA: new Float64Array(A),
    detRe: new Float64Array(A), detPr: new Float64Array(A), assRe: new Float64Array(A), assPr: new Float64Array(A) };
  for (let a = 0; a < A; a++) {
    const m = matches[a]!;
    let assA = 0;
    let assRe = 0;
    let assPr = 0;
    for (let g = 0; g < nG; g++) {
      for (let h = 0; h < nH; h++) {
        const c = m[g * nH + h]!;
        if (c === 0) continue;
        assA += (c * c) / Math.max(1, gtCount[g]! + hypCount[h]! - c);
        assRe += (c * c) / Math.max(1, gtCount[g]!);
        assPr += (c * c) / Math.max(1, hypCount[h]!);
      }
    }
    const t = tp[a]!;
    per.assA[a] = assA / Math.max(1, t);
    per.assRe[a] = assRe / Math.max(1, t);
    per.assPr[a] = assPr / Math.max(1, t);
    per.locA[a] = Math.max(1e-10, locSum[a]!) / Math.max(1e-10, t);
    per.detRe[a] = t / Math.max(1, t + fn[a]!);
    per.detPr[a] = t / Math.max(1, t + fp[a]!);
    per.detA[a] = t / Math.max(1, t + fn[a]! + fp[a]!);
    per.hota[a] = Math.sqrt(per.detA[a]! * per.assA[a]!);
  }
  return {
    hota: mean(per.hota), detA: mean(per.detA), assA: mean(per.assA), locA: mean(per.locA),
    detRe: mean(per.detRe), detPr: mean(per.detPr), assRe: mean(per.assRe), assPr: mean(per.assPr),
  };
}
