import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Detection } from '../../daemon/inference/types.js';
import { compareDetections } from '../../daemon/models/quantize/fidelity.js';

const det = (label: string, score: number, x: number): Detection => ({ classId: 0, label, score, box: [x, 0, x + 100, 100] });

test('fidelity: fp32 boxes at the rule threshold are the truth; INT8 boxes seen by fp32 below it are ignored', () => {
  const fp32 = [[det('person', 0.9, 0), det('car', 0.6, 300), det('person', 0.2, 600)]];
  assert.deepEqual(compareDetections(fp32, fp32, 0.35), { map50: 1, recall: 1, frames: 1, referenceBoxes: 2 });

  // The car moved by 80 % of its width (IoU 0.11) and the low-score person rose above the threshold.
  const int8 = [[det('person', 0.88, 0), det('car', 0.6, 380), det('person', 0.4, 600)]];
  const f = compareDetections(fp32, int8, 0.35);
  assert.equal(f.recall, 0.5);
  // person: AP 1 (the risen box is ignored, not false); car: AP 0.
  assert.equal(f.map50, 0.5);

  // A box fp32 never saw at all is a false positive above the true one: person AP drops to 0.5.
  const extra = [[det('person', 0.95, 900), det('person', 0.9, 0), det('car', 0.6, 300)]];
  assert.equal(compareDetections(fp32, extra, 0.35).map50, 0.75);
  // A wrong label does not match.
  assert.equal(compareDetections(fp32, [[det('dog', 0.9, 0), det('car', 0.6, 300)]], 0.35).recall, 0.5);
});
