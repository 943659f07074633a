import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { evaluateMot } from '../../daemon/analytics/mot/evaluate.js';
import { loadMotFile } from '../../daemon/analytics/mot/format.js';
import { repoRoot, tempDir } from '../helpers/shared.js';

// The sequence's ground truth and MPNTrack's output, with their source and licence (CC BY-NC-SA 3.0):
// test/fixtures/mot/MOT20-01/README.md.
const fixture = path.join(repoRoot, 'test', 'fixtures', 'mot', 'MOT20-01');

test('reproduces MPNTrack\'s published MOT20-01 figures (MOTChallenge, TrackEval)', async (t) => {
  const dir = await tempDir(t, 'vigil-mot20-');
  const unpack = async (name: string): Promise<string> => {
    const file = path.join(dir, name);
    await writeFile(file, gunzipSync(await readFile(path.join(fixture, `${name}.gz`))));
    return file;
  };
  const gtFile = await unpack('gt.txt');
  const hypFile = await unpack('MPNTrack.txt');
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
