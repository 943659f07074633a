import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateMot } from '../../daemon/analytics/mot/evaluate.js';
import { loadMotFile } from '../../daemon/analytics/mot/format.js';
import { runTracker } from '../../daemon/analytics/mot/run-tracker.js';
import { sharedPath } from '../helpers/shared.js';

test('on TUD-Campus with its public detections, the default tracker beats SORT (MOTA ≥ 67, IDF1 ≥ 62)', async (t) => {
  const gt = await loadMotFile(sharedPath('mot', 'TUD-Campus', 'gt.txt'));
  const det = await loadMotFile(sharedPath('mot', 'TUD-Campus', 'det.txt'));
  const run = runTracker(det, { fps: 25, lastFrame: 71 });
  const m = evaluateMot(gt, run.hypothesis);
  t.diagnostic(`MOTA ${m.mota.toFixed(1)} IDF1 ${m.idf1.toFixed(1)} FP ${m.fp} FN ${m.fn} IDSW ${m.idsw}, ${run.msPerFrame.toFixed(3)} ms/frame`);
  assert.equal(m.gt, 359);
  assert.ok(m.mota >= 67, `MOTA ${m.mota.toFixed(2)} < 67`);
  assert.ok(m.idf1 >= 62, `IDF1 ${m.idf1.toFixed(2)} < 62`);
});
