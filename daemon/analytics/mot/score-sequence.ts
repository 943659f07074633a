import type { TrackerConfigInput } from '../tracker/config.js';
import { evaluateMot, type MotMetrics } from './evaluate.js';
import type { MotBenchmark } from './preprocess.js';
import { runTracker, type TrackerRun } from './run-tracker.js';
import type { MotSequence } from './sequence.js';

export interface SequenceScore {
  run: TrackerRun;
  metrics: MotMetrics;
}

/**
 * Runs Vigil's tracker over a sequence's detections and scores its output against the sequence's
 * ground truth, as `vigilctl bench mot --seq` and the tracker sweep (scripts/tracker-sweep.ts) both do.
 * `runs` > 1 repeats the run and keeps the fastest: the tracker is deterministic, so the output is the
 * same, and the fastest time is the tracker's cost rather than the JIT's first compile or another
 * process's turn on the CPU.
 */
export function scoreSequence(seq: MotSequence, tracker: TrackerConfigInput, opts: { runs?: number; benchmark?: MotBenchmark } = {}): SequenceScore {
  const once = (): TrackerRun => runTracker(seq.det, { fps: seq.fps, lastFrame: seq.frames, tracker });
  let run = once();
  for (let k = 1; k < (opts.runs ?? 1); k++) {
    const again = once();
    if (again.msPerFrame < run.msPerFrame) run = again;
  }
  const benchmark = opts.benchmark ?? seq.benchmark;
  const metrics = evaluateMot(seq.gt, run.hypothesis, { gtFile: seq.dir, ...(benchmark ? { benchmark } : {}) });
  return { run, metrics };
}
