import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byFrame, type MotRow } from '../../daemon/analytics/mot/format.js';
import { HOTA_ALPHAS, hotaScores } from '../../daemon/analytics/mot/hota.js';

const row = (frame: number, id: number, x: number): MotRow => ({ frame, id, box: [x, 0, x + 10, 10], conf: 1 });
const close = (actual: number, expected: number, what: string): void => assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} vs ${expected}`);

test('19 localisation thresholds, 0.05 to 0.95', () => {
  assert.equal(HOTA_ALPHAS.length, 19);
  close(HOTA_ALPHAS[0]!, 0.05, 'first');
  close(HOTA_ALPHAS[18]!, 0.95, 'last');
});

test('an identity switch halves association accuracy, not detection accuracy', () => {
  // Object 1 in frames 1-4, exact boxes; hypothesis 7 in frames 1-2, 8 in frames 3-4.
  const gt = [1, 2, 3, 4].map((f) => row(f, 1, 0));
  const hyp = [row(1, 7, 0), row(2, 7, 0), row(3, 8, 0), row(4, 8, 0)];
  const h = hotaScores(byFrame(gt), byFrame(hyp));
  // Each pair has 2 matches; its track IoU is 2 / (4 + 2 − 2) = 0.5, so AssA = (2·0.5 + 2·0.5) / 4.
  close(h.detA, 1, 'DetA');
  close(h.assA, 0.5, 'AssA');
  close(h.assRe, 0.5, 'AssRe'); // 2·(2/4) + 2·(2/4), over 4
  close(h.assPr, 1, 'AssPr'); // each hypothesis is wholly on object 1
  close(h.hota, Math.SQRT1_2, 'HOTA');
});

test('a box 3 px off (IoU 7/13) counts for the 10 thresholds up to 0.50 only', () => {
  const h = hotaScores(byFrame([row(1, 1, 0)]), byFrame([row(1, 5, 3)]));
  const o = 70 / 130;
  close(h.detA, 10 / 19, 'DetA');
  close(h.assA, 10 / 19, 'AssA');
  close(h.hota, 10 / 19, 'HOTA');
  // TrackEval's LocA is 1 at a threshold with no match, which the mean keeps.
  close(h.locA, (10 * o + 9) / 19, 'LocA');
});

test('nothing to score on one side: HOTA 0, LocA 1', () => {
  assert.deepEqual(hotaScores(byFrame([row(1, 1, 0)]), new Map()), { hota: 0, detA: 0, assA: 0, locA: 1, detRe: 0, detPr: 0, assRe: 0, assPr: 0 });
});
