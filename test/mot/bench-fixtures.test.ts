import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot, tempDir } from '../helpers/shared.js';
import { vigilctl } from '../helpers/vigilctl.js';

// MOT15 training sequences kept (gzip-compressed, unchanged) with their source and licence in
// test/fixtures/mot/<name>/README.md. Three frame rates (10, 14 and 7 fps) and three scenes, none of
// them the sequence the defaults were first tuned on.
const fixture = (name: string): string => path.join(repoRoot, 'test', 'fixtures', 'mot', name);

// The tracker's defaults on each sequence (docs/tracking.md, "Data"; since lost_after_tracked became a
// default, "Where the false positives and identity switches come from"). The tracker is deterministic, so
// the tolerance only absorbs float noise: a change in the tracker that moves a figure by more than
// this is a change in what it does, to be explained and the figure updated, or a regression.
const TOLERANCE = 0.3;
const PINNED: Record<string, { frames: number; mota: number; idf1: number; hota: number }> = {
  'KITTI-17': { frames: 145, mota: 58.858, idf1: 75.75, hota: 50.076 },
  'ETH-Sunnyday': { frames: 354, mota: 56.997, idf1: 75.627, hota: 56.315 },
  'PETS09-S2L1': { frames: 795, mota: 63.517, idf1: 48.573, hota: 37.879 },
};

test('vigilctl bench mot --seq over fixture sequences gives the pinned MOTA, IDF1 and HOTA', async () => {
  const names = Object.keys(PINNED);
  // MOT20-01 holds ground truth and a published tracker's output but no detections: passed over, named.
  const r = await vigilctl(['bench', 'mot', '--seq', ...names.map(fixture), fixture('MOT20-01'), '--json']);
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out) as {
    sequences: { sequence: string; benchmark: string; frames: number; mota: number; idf1: number; hota: number; ms_per_frame: number }[];
    mean: { sequences: number; hota: number };
    skipped: { dir: string; reason: string }[];
  };
  assert.deepEqual(out.sequences.map((s) => s.sequence), names);
  for (const s of out.sequences) {
    const want = PINNED[s.sequence]!;
    assert.equal(s.benchmark, 'MOT15', s.sequence);
    assert.equal(s.frames, want.frames, s.sequence);
    for (const key of ['mota', 'idf1', 'hota'] as const) {
      assert.ok(Math.abs(s[key] - want[key]) <= TOLERANCE, `${s.sequence} ${key}: ${s[key]}, pinned ${want[key]} ± ${TOLERANCE}`);
    }
    assert.ok(s.ms_per_frame > 0, s.sequence);
  }
  assert.equal(out.mean.sequences, 3);
  assert.ok(Math.abs(out.mean.hota - (50.076 + 56.315 + 37.879) / 3) <= TOLERANCE, `mean HOTA ${out.mean.hota}`);
  assert.deepEqual(out.skipped, [{ dir: fixture('MOT20-01'), reason: 'no detections' }]);
});

test('the human table has one row per sequence, the mean, and what was passed over', async () => {
  const r = await vigilctl(['bench', 'mot', '--seq', fixture('KITTI-17'), fixture('MOT20-01'), fixture('TUD-Campus')]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\nKITTI-17 +MOT15 +145 +58\.9 +75\.8 +50\.1 /);
  assert.match(r.out, /\nTUD-Campus \* +MOT15 +71 +69\.6 +74\.7 +53\.4 /);
  assert.match(r.out, /\nmean of 2 rows: MOTA 64\.2 {2}IDF1 75\.2 {2}HOTA 51\.8; of the 1 not marked \*: MOTA 58\.9 {2}IDF1 75\.8 {2}HOTA 50\.1\n/);
  assert.match(r.out, /\npassed over: .*MOT20-01 \(no detections\)$/);
});

test('single gzip-compressed files score like the sequence folder they come from', async () => {
  const r = await vigilctl(['bench', 'mot', '--gt', path.join(fixture('KITTI-17'), 'gt.txt.gz'), '--det', path.join(fixture('KITTI-17'), 'det.txt.gz'),
    '--fps', '10', '--json']);
  assert.equal(r.code, 0, r.err);
  const m = JSON.parse(r.out) as { mota: number; hota: number; frames: number };
  assert.equal(m.frames, 145);
  assert.ok(Math.abs(m.mota - PINNED['KITTI-17']!.mota) <= TOLERANCE && Math.abs(m.hota - PINNED['KITTI-17']!.hota) <= TOLERANCE, r.out);
});

test('a .gz file that is not gzip, and a folder list with no detections at all, are usage errors naming them', async (t) => {
  const bad = path.join(await tempDir(t), 'gt.txt.gz');
  await writeFile(bad, '1,1,10,10,20,40,1,-1,-1,-1\n');
  const r = await vigilctl(['bench', 'mot', '--gt', bad, '--hyp', bad]);
  assert.equal(r.code, 2);
  assert.match(r.err, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: is not a gzip file`));
  const none = await vigilctl(['bench', 'mot', '--seq', fixture('MOT20-01'), path.dirname(bad)]);
  assert.equal(none.code, 2);
  assert.match(none.err, /none of the --seq folders has detections/);
});
