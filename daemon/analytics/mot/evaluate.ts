import { clearMot } from './clear-mot.js';
import { byFrame, type MotRow } from './format.js';
import { hotaScores } from './hota.js';
import { identityCounts } from './identity.js';
import { detectBenchmark, preprocessMotChallenge, type MotBenchmark } from './preprocess.js';

/** CLEAR MOT, identity and HOTA metrics for one sequence; ratios in percent, as MOTChallenge reports them. */
export interface MotMetrics {
  /** The rules the ground truth was read with. */
  benchmark: MotBenchmark;
  hota: number;
  detA: number;
  assA: number;
  locA: number;
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
  /** Hypothesis boxes set aside for matching a distractor, and ground-truth boxes set aside by class or flag. */
  hypIgnored: number;
  gtIgnored: number;
}

export interface EvaluateOptions {
  /** IoU a match needs for CLEAR MOT and IDF1. Default 0.5. */
  threshold?: number;
  /** Default: MOT17's rules for 9-column ground truth, MOT15's for the 10-column form. */
  benchmark?: MotBenchmark;
  /** Names the ground truth in errors. */
  gtFile?: string;
}

const percent = (num: number, den: number): number => (den === 0 ? 0 : (100 * num) / den);

/**
 * Scores a tracker's output (`hyp`) against ground truth the way MOTChallenge does with TrackEval:
 * the benchmark's preprocessing first (distractors, classes, flags), then CLEAR MOT and IDF1 at
 * IoU ≥ `threshold`, and HOTA.
 */
export function evaluateMot(gtRows: readonly MotRow[], hypRows: readonly MotRow[], options: EvaluateOptions = {}): MotMetrics {
  const threshold = options.threshold ?? 0.5;
  const benchmark = options.benchmark ?? detectBenchmark(gtRows);
  const pre = preprocessMotChallenge(gtRows, hypRows, benchmark, options.gtFile);
  const gtFrames = byFrame(pre.gt);
  const hypFrames = byFrame(pre.hyp);
  const c = clearMot(gtFrames, hypFrames, threshold);
  const id = identityCounts(gtFrames, hypFrames, threshold);
  const h = hotaScores(gtFrames, hypFrames);
  return {
    benchmark,
    hota: 100 * h.hota, detA: 100 * h.detA, assA: 100 * h.assA, locA: 100 * h.locA,
    hypIgnored: pre.hypRemoved, gtIgnored: pre.gtRemoved,
    mota: c.gt === 0 ? 0 : 100 * (1 - (c.fn + c.fp + c.idsw) / c.gt),
    motp: percent(c.iouSum, c.matches),
    idf1: percent(2 * id.idtp, 2 * id.idtp + id.idfp + id.idfn),
    idp: percent(id.idtp, id.idtp + id.idfp),
    idr: percent(id.idtp, id.idtp + id.idfn),
    fp: c.fp, fn: c.fn, idsw: c.idsw, gt: c.gt, hyp: c.hyp, matches: c.matches,
    ...id, gtIds: c.gtIds, mt: c.mostlyTracked, ml: c.mostlyLost,
  };
}
