import { AssignmentSolver } from '../tracker/assignment.js';
import { iou } from '../tracker/iou.js';
import type { MotRow } from './format.js';

export interface ClearMotCounts {
  /** Ground-truth boxes. */
  gt: number;
  /** Hypothesis boxes. */
  hyp: number;
  matches: number;
  fp: number;
  fn: number;
  idsw: number;
  /** Sum of IoU over matches (MOTP is its mean). */
  iouSum: number;
  /** Ground-truth identities matched in at least 80 % / at most 20 % of their frames. */
  mostlyTracked: number;
  mostlyLost: number;
  gtIds: number;
}

// Pairs below the IoU threshold are never matched; the cost only has to exceed every real one.
const GATED = 1e6;

/**
 * CLEAR MOT counts as the MOT devkit computes them (Bernardin & Stiefelhagen 2008). Frame by frame:
 * a ground-truth object keeps last frame's hypothesis if they still overlap by `threshold` IoU;
 * the rest are paired by an optimal assignment on 1 − IoU among pairs at or above the threshold;
 * a match whose hypothesis differs from the one that object last had (in any earlier frame) is an
 * identity switch.
 */
export function clearMot(gtFrames: ReadonlyMap<number, readonly MotRow[]>, hypFrames: ReadonlyMap<number, readonly MotRow[]>,
  threshold = 0.5): ClearMotCounts {
  const frames = [...new Set([...gtFrames.keys(), ...hypFrames.keys()])].sort((a, b) => a - b);
  const solver = new AssignmentSolver();
  let previous = new Map<number, number>();
  const lastMatched = new Map<number, number>();
  const framesSeen = new Map<number, number>();
  const framesMatched = new Map<number, number>();
  const c: ClearMotCounts = { gt: 0, hyp: 0, matches: 0, fp: 0, fn: 0, idsw: 0, iouSum: 0, mostlyTracked: 0, mostlyLost: 0, gtIds: 0 };

  for (const f of frames) {
    const gts = gtFrames.get(f) ?? [];
    const hyps = hypFrames.get(f) ?? [];
    c.gt += gts.length;
    c.hyp += hyps.length;
    for (const g of gts) framesSeen.set(g.id, (framesSeen.get(g.id) ?? 0) + 1);

    const current = new Map<number, number>();
    const gtTaken = new Uint8Array(gts.length);
    const hypTaken = new Uint8Array(hyps.length);
    const overlaps = new Float64Array(gts.length * hyps.length);
    for (let i = 0; i < gts.length; i++) for (let j = 0; j < hyps.length; j++) overlaps[i * hyps.length + j] = iou(gts[i]!.box, hyps[j]!.box);

    const match = (i: number, j: number): void => {
      gtTaken[i] = 1;
      hypTaken[j] = 1;
      current.set(gts[i]!.id, hyps[j]!.id);
      c.iouSum += overlaps[i * hyps.length + j]!;
    };

    for (let i = 0; i < gts.length; i++) {
      const kept = previous.get(gts[i]!.id);
      if (kept === undefined) continue;
      const j = hyps.findIndex((h, k) => hypTaken[k] === 0 && h.id === kept);
      if (j >= 0 && overlaps[i * hyps.length + j]! >= threshold) match(i, j);
    }

    const freeGt = [...gts.keys()].filter((i) => gtTaken[i] === 0);
    const freeHyp = [...hyps.keys()].filter((j) => hypTaken[j] === 0);
    if (freeGt.length > 0 && freeHyp.length > 0) {
      const cost = new Float64Array(freeGt.length * freeHyp.length);
      freeGt.forEach((i, a) => freeHyp.forEach((j, b) => {
        const o = overlaps[i * hyps.length + j]!;
        cost[a * freeHyp.length + b] = o >= threshold ? 1 - o : GATED;
      }));
      const assigned = Array.from(solver.solve(cost, freeGt.length, freeHyp.length));
      assigned.forEach((b, a) => {
        if (b >= 0 && cost[a * freeHyp.length + b]! < GATED) match(freeGt[a]!, freeHyp[b]!);
      });
    }

    for (const [gtId, hypId] of current) {
      const last = lastMatched.get(gtId);
      if (last !== undefined && last !== hypId) c.idsw += 1;
      lastMatched.set(gtId, hypId);
      framesMatched.set(gtId, (framesMatched.get(gtId) ?? 0) + 1);
    }
    c.matches += current.size;
    c.fn += gts.length - current.size;
    c.fp += hyps.length - current.size;
    previous = current;
  }

  c.gtIds = framesSeen.size;
  for (const [id, n] of framesSeen) {
    const ratio = (framesMatched.get(id) ?? 0) / n;
    if (ratio >= 0.8) c.mostlyTracked += 1;
    else if (ratio <= 0.2) c.mostlyLost += 1;
  }
  return c;
}
