import type { DetectSample } from './swappable-detector.js';

/** How a newly activated model is judged against the one it replaced. */
export interface ProbationLimits {
  /** How long the watch lasts; the model passes only after this and `minFrames`. */
  durationMs: number;
  /** Inferences before latency and detection rate are judged (errors are judged at once). */
  minFrames: number;
  /** Failed inferences (a throw, non-finite outputs) above this share, after at least 3, fail it. */
  maxErrorRatio: number;
  /** Median latency above this multiple of the old model's fails it. */
  maxLatencyRatio: number;
  /** Mean detections per frame below this share of the old model's fails it... */
  minDetectionRatio: number;
  /** ...when the old model found at least this many per frame (below it there is no rate to collapse). */
  minBaselineDetections: number;
}

export type Verdict = { verdict: 'continue' } | { verdict: 'pass'; summary: string } | { verdict: 'fail'; reason: string };

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] ?? null : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

/**
 * The probation verdict from the samples so far. A pure function of its inputs, so that each rule
 * can be checked with exact numbers; the monitor calls it after every inference.
 */
export function judge(baseline: readonly DetectSample[], seen: readonly DetectSample[], elapsedMs: number, limits: ProbationLimits): Verdict {
  const errors = seen.filter((s) => !s.ok);
  if (errors.length >= 3 && errors.length / seen.length > limits.maxErrorRatio) {
    return { verdict: 'fail', reason: `${errors.length} of ${seen.length} inferences failed (limit ${Math.round(limits.maxErrorRatio * 100)}%): ${errors.at(-1)?.error ?? 'error'}` };
  }
  if (seen.length < limits.minFrames) return { verdict: 'continue' };
  const ok = seen.filter((s) => s.ok);
  const base = baseline.filter((s) => s.ok);
  const newMs = median(ok.map((s) => s.ms));
  const oldMs = base.length >= 5 ? median(base.map((s) => s.ms)) : null;
  if (newMs !== null && oldMs !== null && oldMs > 0 && newMs / oldMs > limits.maxLatencyRatio) {
    return { verdict: 'fail', reason: `median inference ${newMs.toFixed(1)} ms against ${oldMs.toFixed(1)} ms before ` +
      `(${(newMs / oldMs).toFixed(1)}x, limit ${limits.maxLatencyRatio}x)` };
  }
  const newRate = mean(ok.map((s) => s.detections));
  const oldRate = base.length >= 5 ? mean(base.map((s) => s.detections)) : null;
  if (oldRate !== null && oldRate >= limits.minBaselineDetections && newRate < oldRate * limits.minDetectionRatio) {
    return { verdict: 'fail', reason: `detection rate collapsed: ${newRate.toFixed(2)} per frame against ${oldRate.toFixed(2)} before ` +
      `(limit ${Math.round(limits.minDetectionRatio * 100)}%)` };
  }
  if (elapsedMs < limits.durationMs) return { verdict: 'continue' };
  return { verdict: 'pass', summary: `${seen.length} inferences, ${errors.length} failed, median ${newMs?.toFixed(1) ?? '-'} ms` +
    `${oldMs !== null ? ` (before ${oldMs.toFixed(1)} ms)` : ''}, ${newRate.toFixed(2)} detections per frame` +
    `${oldRate !== null ? ` (before ${oldRate.toFixed(2)})` : ''}` };
}
