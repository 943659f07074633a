import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { evaluateMot } from '../../daemon/analytics/mot/evaluate.js';
import { loadMotFile } from '../../daemon/analytics/mot/format.js';
import { sharedPath } from '../helpers/shared.js';

// MOTChallenge data is CC BY-NC-SA 3.0, so the repository does not carry it; ../shared/mot/README.md
// says where these two files come from (MOT20-01 train ground truth, MPNTrack's published output).
const gtFile = sharedPath('mot', 'MOT20-01', 'gt.txt');
const hypFile = sharedPath('mot', 'MOT20-01', 'MPNTrack.txt');

test('reproduces MPNTrack\'s published MOT20-01 figures (MOTChallenge, TrackEval)', async () => {
  assert.ok(existsSync(gtFile) && existsSync(hypFile), `needs ${gtFile} and ${hypFile}: see docs/tracking.md, "Data"`);
  const m = evaluateMot(await loadMotFile(gtFile), await loadMotFile(hypFile), { benchmark: 'MOT20' });
  // MOTChallenge's MOT20-01 row for MPNTrack: MOTA 65.9, IDF1 67.7, FP 391, FN 6338, IDSW 53, MOTP 83.3;
  // TrackEval: HOTA 54.68, DetA 55.46, AssA 54.11, LocA 85.05.
  assert.deepEqual([m.fp, m.fn, m.idsw, m.gt], [391, 6338, 53, 19870]);
  assert.equal(m.mota.toFixed(1), '65.9');
  assert.equal(m.idf1.toFixed(1), '67.7');
  assert.equal(m.motp.toFixed(1), '83.3');
  assert.deepEqual([m.hota, m.detA, m.assA, m.locA].map((v) => v.toFixed(2)), ['54.68', '55.46', '54.11', '85.05']);
  // Read with MOT15's rules (no classes), the 101 boxes on static persons, reflections and the like become false positives.
  assert.equal(evaluateMot(await loadMotFile(gtFile), await loadMotFile(hypFile), { benchmark: 'MOT15' }).fp, 492);
});
