import type { Detection } from '../../inference/types.js';
import type { TrackerConfigInput } from '../tracker/config.js';
import { Tracker } from '../tracker/tracker.js';
import { byFrame, type MotRow } from './format.js';

export interface TrackerRun {
  /** The tracker's output as MOTChallenge rows: confirmed tracks matched in each frame. */
  hypothesis: MotRow[];
  frames: number;
  /** Mean wall time of `Tracker.update`, ms per frame. */
  msPerFrame: number;
}

export interface TrackerRunOptions {
  /** Frame rate of the sequence: frame n is fed at (n − 1) / fps seconds. */
  fps: number;
  /** Last frame to feed; frames without detections still advance the tracker. Default: the last detection's. */
  lastFrame?: number;
  /** Label given to every detection (MOTChallenge detections carry no class). */
  label?: string;
  tracker?: TrackerConfigInput;
}

/**
 * Runs Vigil's tracker over MOTChallenge detections the way a stream would feed it, one frame at a
 * time, and reports what MOT trackers report: confirmed tracks with a detection in that frame, with
 * their filtered boxes. Lost tracks are not written, since their predicted boxes are guesses.
 */
export function runTracker(detections: readonly MotRow[], opts: TrackerRunOptions): TrackerRun {
  if (!(opts.fps > 0)) throw new RangeError(`fps must be positive, got ${opts.fps}`);
  const tracker = new Tracker(opts.tracker ?? {});
  const frames = byFrame(detections);
  const last = opts.lastFrame ?? Math.max(0, ...frames.keys());
  const label = opts.label ?? 'person';
  const hypothesis: MotRow[] = [];
  let spent = 0;
  for (let f = 1; f <= last; f++) {
    const dets: Detection[] = (frames.get(f) ?? []).map((r) => ({ classId: 0, label, score: r.conf, box: [...r.box] }));
    const started = performance.now();
    const out = tracker.update(((f - 1) * 1000) / opts.fps, dets);
    spent += performance.now() - started;
    for (const t of out.tracks) hypothesis.push({ frame: f, id: t.id, box: t.box, conf: t.score });
  }
  return { hypothesis, frames: last, msPerFrame: last === 0 ? 0 : spent / last };
}
