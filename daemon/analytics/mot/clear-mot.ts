import { AssignmentSolver } from '../tracker/assignment.js';
import { iou } from '../tracker/iou.js';
import type { MotRow } from './format.js';
import { IOU_EPS } from './preprocess.js';

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

// A match that continues last frame's pairing outweighs any sum of IoUs (TrackEval's weight).
const CONTINUITY = 1000;

/**
 * CLEAR MOT counts as TrackEval computes them for MOTChallenge (Bernardin & Stiefelhagen 2008).
 * Frame by frame, one optimal assignment maximises first the number of ground-truth objects that
 * keep last frame's hypothesis, then the total IoU, over pairs at IoU ≥ `threshold`; a match whose
 * hypothesis differs from the one that object last had (in any earlier frame) is an identity
 * switch. An identity is mostly tracked when matched in more than 80 % of its frames, mostly lost
 * when in less than 20 %.
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
    const cols = hyps.length;
    if (gts.length > 0 && cols > 0) {
      const overlaps = new Float64Array(gts.length * cols);
      const cost = new Float64Array(gts.length * cols);
      for (let i = 0; i < gts.length; i++) {
        const kept = previous.get(gts[i]!.id);
        for (let j = 0; j < cols; j++) {
          const o = iou(gts[i]!.box, hyps[j]!.box);
          overlaps[i * cols + j] = o;
          // The solver minimises: a negated score, 0 for pairs below the threshold.
          cost[i * cols + j] = o < threshold - IOU_EPS ? 0 : -((hyps[j]!.id === kept ? CONTINUITY : 0) + o);
        }
      }
      const assigned = solver.solve(cost, gts.length, cols);
      assigned.forEach((j, i) => {
        if (j < 0 || -cost[i * cols + j]! <= IOU_EPS) return;
        current.set(gts[i]!.id, hyps[j]!.id);
        c.iouSum += overlaps[i * cols + j]!;
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
    // A frame without ground truth or without hypotheses leaves last frame's pairs as they were (as TrackEval does).
    if (gts.length > 0 && cols > 0) previous = current;
  }

  c.gtIds = framesSeen.size;
  for (const [id, n] of framesSeen) {
    const ratio = (framesMatched.get(id) ?? 0) / n;
    if (ratio > 0.8) c.mostlyTracked += 1;
    else if (ratio < 0.2) c.mostlyLost += 1;
  }
  return c;
}
