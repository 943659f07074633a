import { clearMot } from './clear-mot.js';
import { byFrame, type MotRow } from './format.js';
import { identityCounts } from './identity.js';

/** CLEAR MOT and identity metrics for one sequence; ratios in percent, as MOTChallenge reports them. */
export interface MotMetrics {
  mota: number;
  /** Mean IoU of the matches, percent. */
  motp: number;
  idf1: number;
  idp: number;
  idr: number;
  fp: number;
  fn: number;
  idsw: number;
  /** Ground-truth boxes. */
  gt: number;
  /** Hypothesis boxes. */
  hyp: number;
  matches: number;
  idtp: number;
  idfp: number;
  idfn: number;
  /** Ground-truth identities, and those mostly tracked (≥ 80 % of their frames) or mostly lost (≤ 20 %). */
  gtIds: number;
  mt: number;
  ml: number;
}

const percent = (num: number, den: number): number => (den === 0 ? 0 : (100 * num) / den);

/** Scores a tracker's output (`hyp`) against ground truth at IoU ≥ `threshold`. */
export function evaluateMot(gt: readonly MotRow[], hyp: readonly MotRow[], threshold = 0.5): MotMetrics {
  const gtFrames = byFrame(gt);
  const hypFrames = byFrame(hyp);
  const c = clearMot(gtFrames, hypFrames, threshold);
  const id = identityCounts(gtFrames, hypFrames, threshold);
  return {
    mota: c.gt === 0 ? 0 : 100 * (1 - (c.fn + c.fp + c.idsw) / c.gt),
    motp: percent(c.iouSum, c.matches),
    idf1: percent(2 * id.idtp, 2 * id.idtp + id.idfp + id.idfn),
    idp: percent(id.idtp, id.idtp + id.idfp),
    idr: percent(id.idtp, id.idtp + id.idfn),
    fp: c.fp, fn: c.fn, idsw: c.idsw, gt: c.gt, hyp: c.hyp, matches: c.matches,
    ...id, gtIds: c.gtIds, mt: c.mostlyTracked, ml: c.mostlyLost,
  };
}
