import { AssignmentSolver } from '../tracker/assignment.js';
import { iou } from '../tracker/iou.js';
import { byFrame, MotFormatError, type MotRow } from './format.js';

/**
 * Which MOTChallenge rules apply. MOT15 ground truth has no classes; MOT16 and MOT17 share one set
 * of distractors; MOT20 adds non-motorised vehicles to it.
 */
export type MotBenchmark = 'MOT15' | 'MOT16' | 'MOT17' | 'MOT20';

export const MOT_BENCHMARKS: readonly MotBenchmark[] = ['MOT15', 'MOT16', 'MOT17', 'MOT20'];

/** The classes of MOT16/17/20 ground truth (the 8th column), as the MOTChallenge papers number them. */
export const MOT_CLASSES = {
  pedestrian: 1, person_on_vehicle: 2, car: 3, bicycle: 4, motorbike: 5, non_mot_vehicle: 6, static_person: 7,
  distractor: 8, occluder: 9, occluder_on_ground: 10, occluder_full: 11, reflection: 12, crowd: 13,
} as const;

const MAX_CLASS = MOT_CLASSES.crowd;

/**
 * Classes whose boxes excuse a hypothesis: a tracker that follows a person on a bicycle or a
 * reflection in a window is neither right nor wrong. Occluders and vehicles are not on the list,
 * so a box on them stays a false positive (TrackEval's `mot_challenge_2d_box.py`).
 */
function distractorClasses(benchmark: MotBenchmark): Set<number> {
  const c = MOT_CLASSES;
  const set = new Set<number>([c.person_on_vehicle, c.static_person, c.distractor, c.reflection]);
  if (benchmark === 'MOT20') set.add(c.non_mot_vehicle);
  return set;
}

/** TrackEval's tolerance on IoU comparisons; without it a pair at exactly 0.5 can fall either way. */
export const IOU_EPS = 2.220446049250313e-16;

export interface PreprocessResult {
  gt: MotRow[];
  hyp: MotRow[];
  /** Hypothesis boxes dropped because they matched a distractor. */
  hypRemoved: number;
  /** Ground-truth boxes dropped: flagged 0, or not pedestrians. */
  gtRemoved: number;
}

/**
 * Guesses the rules from the ground truth: 9-column rows carry a class (MOT16/17/20), 10-column
 * MOT15 rows do not. MOT20's extra distractor cannot be told from the rows, so a caller that
 * knows the sequence is MOT20 says so.
 */
export function detectBenchmark(gt: readonly MotRow[]): MotBenchmark {
  return gt.some((r) => r.cls !== undefined) ? 'MOT17' : 'MOT15';
}

/**
 * Applies MOTChallenge's preprocessing, as TrackEval runs it before scoring:
 *  1. each frame, hypotheses are paired with every ground-truth box, of any class and flag, by an
 *     optimal assignment that maximises the total IoU over pairs at IoU ≥ 0.5; a hypothesis paired
 *     with a distractor is removed, so it counts neither as a true nor as a false positive;
 *  2. ground truth keeps only pedestrians whose flag (7th column) is not 0.
 * MOT15 has no classes: only rows flagged 0 are dropped and every hypothesis stays.
 * `gtFile` names the ground truth in errors.
 */
export function preprocessMotChallenge(gt: readonly MotRow[], hyp: readonly MotRow[], benchmark: MotBenchmark,
  gtFile = 'ground truth'): PreprocessResult {
  if (benchmark === 'MOT15') {
    const kept = gt.filter((r) => r.conf !== 0);
    return { gt: kept, hyp: [...hyp], hypRemoved: 0, gtRemoved: gt.length - kept.length };
  }
  for (const r of gt) {
    if (r.cls === undefined) {
      throw new MotFormatError(gtFile, null, `${benchmark} ground truth needs 9 columns with a class; frame ${r.frame}, id ${r.id} has none (MOT15's 10-column form is scored with benchmark MOT15)`);
    }
    if (!Number.isInteger(r.cls) || r.cls < 1 || r.cls > MAX_CLASS) {
      throw new MotFormatError(gtFile, null, `frame ${r.frame}, id ${r.id}: class ${r.cls} is not a MOTChallenge class (1..${MAX_CLASS})`);
    }
  }
  const distractors = distractorClasses(benchmark);
  const gtFrames = byFrame(gt);
  const solver = new AssignmentSolver();
  const removed = new Set<MotRow>();
  for (const [frame, hyps] of byFrame(hyp)) {
    const gts = gtFrames.get(frame);
    if (!gts || !gts.some((g) => distractors.has(g.cls!))) continue;
    const cols = hyps.length;
    const score = new Float64Array(gts.length * cols);
    for (let i = 0; i < gts.length; i++) {
      for (let j = 0; j < cols; j++) {
        const o = iou(gts[i]!.box, hyps[j]!.box);
        score[i * cols + j] = o >= 0.5 - IOU_EPS ? o : 0;
      }
    }
    const assigned = solver.solve(score.map((v) => -v), gts.length, cols);
    assigned.forEach((j, i) => {
      if (j >= 0 && score[i * cols + j]! > IOU_EPS && distractors.has(gts[i]!.cls!)) removed.add(hyps[j]!);
    });
  }
  const keptGt = gt.filter((r) => r.conf !== 0 && r.cls === MOT_CLASSES.pedestrian);
  return {
    gt: keptGt,
    hyp: hyp.filter((r) => !removed.has(r)),
    hypRemoved: removed.size,
    gtRemoved: gt.length - keptGt.length,
  };
}
