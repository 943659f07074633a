import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judge, type ProbationLimits } from '../../daemon/models/probation.js';
import type { DetectSample } from '../../daemon/models/swappable-detector.js';

const limits: ProbationLimits = {
  durationMs: 60_000, minFrames: 10, maxErrorRatio: 0.2, maxLatencyRatio: 3, minDetectionRatio: 0.25, minBaselineDetections: 0.5,
};
const ok = (ms: number, detections: number): DetectSample => ({ ok: true, ms, detections });
const fail: DetectSample = { ok: false, ms: 5, detections: 0, error: 'output "output" holds a non-finite value (NaN) at index 0' };
const times = <T>(n: number, v: T): T[] => Array.from({ length: n }, () => v);
const baseline = times(50, ok(40, 3));

test('failing inferences roll back as soon as three have failed', () => {
  assert.deepEqual(judge(baseline, [fail, fail], 100, limits), { verdict: 'continue' });
  const v = judge(baseline, [fail, fail, fail], 100, limits);
  assert.equal(v.verdict, 'fail');
  assert.match(v.verdict === 'fail' ? v.reason : '', /^3 of 3 inferences failed \(limit 20%\): output "output" holds a non-finite value/);
  // A rare failure among many good frames is tolerated.
  assert.deepEqual(judge(baseline, [...times(20, ok(40, 3)), fail, fail, fail], 100, limits), { verdict: 'continue' });
});

test('far slower than the old model fails; somewhat slower does not', () => {
  const v = judge(baseline, times(10, ok(130, 3)), 1000, limits);
  assert.equal(v.verdict, 'fail');
  assert.match(v.verdict === 'fail' ? v.reason : '', /^median inference 130\.0 ms against 40\.0 ms before \(3\.3x, limit 3x\)$/);
  assert.deepEqual(judge(baseline, times(10, ok(110, 3)), 1000, limits), { verdict: 'continue' });
});

test('a collapsed detection rate fails; a scene that was empty before cannot collapse', () => {
  const v = judge(baseline, times(10, ok(40, 0.5)), 1000, limits);
  assert.equal(v.verdict, 'fail');
  assert.match(v.verdict === 'fail' ? v.reason : '', /^detection rate collapsed: 0\.50 per frame against 3\.00 before/);
  assert.deepEqual(judge(times(50, ok(40, 0)), times(10, ok(40, 0)), 1000, limits), { verdict: 'continue' });
});

test('passes only after the duration and the minimum frames; without a baseline only errors count', () => {
  assert.deepEqual(judge(baseline, times(9, ok(40, 3)), 120_000, limits), { verdict: 'continue' });
  assert.deepEqual(judge(baseline, times(10, ok(40, 3)), 59_000, limits), { verdict: 'continue' });
  const v = judge(baseline, times(10, ok(45, 2)), 60_000, limits);
  assert.equal(v.verdict, 'pass');
  assert.match(v.verdict === 'pass' ? v.summary : '', /10 inferences, 0 failed, median 45\.0 ms \(before 40\.0 ms\), 2\.00 detections per frame \(before 3\.00\)/);
  assert.equal(judge([], times(10, ok(500, 0)), 60_000, limits).verdict, 'pass');
});
