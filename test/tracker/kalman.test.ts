import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoxKalman, invert4, type KalmanNoise } from '../../daemon/analytics/tracker/kalman.js';
import type { Box } from '../../daemon/inference/types.js';

const noise: KalmanNoise = { measurementStd: 0.1, positionStd: 0.25, velocityStd: 0.75 };
const trace = (k: BoxKalman): number => [0, 1, 2, 3, 4, 5, 6, 7].reduce((s, i) => s + k.P[i * 8 + i]!, 0);
const close = (a: readonly number[], b: readonly number[], tol: number): void =>
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= tol, `[${a.join(', ')}] vs [${b.join(', ')}] at ${i}`));

test('starts at the measured box with no velocity', () => {
  const k = new BoxKalman([100, 50, 140, 150], noise);
  close(k.box(), [100, 50, 140, 150], 1e-9);
  assert.deepEqual(k.velocity(), [0, 0]);
});

test('predict moves by velocity × dt and grows the uncertainty; update shrinks it', () => {
  const k = new BoxKalman([0, 0, 40, 100], noise);
  k.x[4] = 50; // px/s
  const before = trace(k);
  k.predict(0.2);
  close(k.box(), [10, 0, 50, 100], 1e-9);
  const predicted = trace(k);
  assert.ok(predicted > before, 'prediction adds uncertainty');
  k.update([10, 0, 50, 100]);
  assert.ok(trace(k) < predicted, 'a measurement removes uncertainty');
});

test('learns a constant velocity from detections and extrapolates it through a gap', () => {
  const k = new BoxKalman([0, 100, 40, 200], noise);
  const dt = 0.04;
  const speed = 250; // px/s: 10 px per frame
  for (let f = 1; f <= 30; f++) {
    k.predict(dt);
    const x = speed * dt * f;
    k.update([x, 100, x + 40, 200]);
  }
  const [vx, vy] = k.velocity();
  assert.ok(Math.abs(vx - speed) < 0.05 * speed, `vx ${vx}`);
  assert.ok(Math.abs(vy) < 5, `vy ${vy}`);
  for (let f = 31; f <= 35; f++) k.predict(dt);
  const expected = speed * dt * 35;
  const box: Box = k.box();
  assert.ok(Math.abs(box[0] - expected) < 5, `after a 5-frame gap x1 ${box[0]}, expected ${expected}`);
});

test('the covariance stays symmetric and positive on the diagonal', () => {
  const k = new BoxKalman([0, 0, 30, 90], noise);
  for (let f = 0; f < 200; f++) {
    k.predict(f % 7 === 0 ? 0.5 : 0.04);
    if (f % 3 !== 0) k.update([f, (f * 7) % 13, f + 30 + (f % 5), 90 + (f % 4)]);
  }
  for (let i = 0; i < 8; i++) {
    assert.ok(k.P[i * 8 + i]! > 0);
    for (let j = 0; j < 8; j++) assert.equal(k.P[i * 8 + j], k.P[j * 8 + i]);
  }
});

test('invert4 inverts', () => {
  const a = Float64Array.from([4, 1, 0, 0.5, 1, 3, 0.2, 0, 0, 0.2, 2, 0.1, 0.5, 0, 0.1, 5]);
  const inv = new Float64Array(16);
  invert4(a, inv);
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[i * 4 + k]! * inv[k * 4 + j]!;
      assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-12);
    }
  }
});
