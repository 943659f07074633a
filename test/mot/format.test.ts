import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { formatMot, loadMotFile, MotFormatError, parseMot } from '../../daemon/analytics/mot/format.js';
import { sharedPath, tempDir } from '../helpers/shared.js';

test('reads the shared files: gt without a final newline, detections with id -1', async () => {
  const gt = await loadMotFile(sharedPath('mot', 'TUD-Campus', 'gt.txt'));
  const det = await loadMotFile(sharedPath('mot', 'TUD-Campus', 'det.txt'));
  assert.equal(gt.length, 359);
  assert.equal(det.length, 321);
  assert.deepEqual(gt[0], { frame: 1, id: 1, box: [399, 182, 520, 411], conf: 1 });
  assert.ok(det.every((r) => r.id === -1 && r.conf >= 0.5));
});

test('accepts blank lines, CRLF, spaces and six-column rows', () => {
  const rows = parseMot('1,1,10,20,30,40\r\n\r\n2 1 11 21 30 40 0.5\n', 'x.txt');
  assert.deepEqual(rows.map((r) => [r.frame, r.id, r.conf]), [[1, 1, 1], [2, 1, 0.5]]);
  assert.deepEqual(rows[1]!.box, [11, 21, 41, 61]);
});

test('bad lines are reported with the file and line number', () => {
  const cases: [string, RegExp][] = [
    ['1,1,10,20,30,40,1\n1,2,10,20', /^bad\.txt:2: expected at least 6 fields/],
    ['1,1,10,20,30,40,1\n\n2,1,ten,20,30,40,1', /^bad\.txt:3: x is not a number: "ten"/],
    ['0,1,10,20,30,40,1', /^bad\.txt:1: frame must be an integer ≥ 1/],
    ['1.5,1,10,20,30,40,1', /^bad\.txt:1: frame must be an integer/],
    ['1,-2,10,20,30,40,1', /^bad\.txt:1: id must be an integer ≥ -1/],
    ['1,1,10,20,-30,40,1', /^bad\.txt:1: width and height must not be negative/],
    ['1,1,10,20,30,40,1\n1,2,0,0,1,1,1\n1,1,5,5,5,5,1', /^bad\.txt:3: frame 1 has id 1 twice \(first on line 1\)/],
    ['1,1,10,20,30,,1', /^bad\.txt:1: height is not a number/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseMot(text, 'bad.txt'), (err: unknown) => {
      assert.ok(err instanceof MotFormatError, String(err));
      assert.match(err.message, message);
      assert.equal(err.file, 'bad.txt');
      return true;
    }, text);
  }
});

test('a missing file names the file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'nope.txt');
  await assert.rejects(loadMotFile(file), (err: unknown) => err instanceof MotFormatError && err.message === `${file}: no such file`);
});

test('formatMot writes what parseMot reads', async (t) => {
  const rows = [{ frame: 3, id: 7, box: [1.5, 2.25, 11.5, 32.25] as [number, number, number, number], conf: 0.875 }];
  const file = path.join(await tempDir(t), 'hyp.txt');
  await writeFile(file, formatMot(rows));
  assert.deepEqual(await loadMotFile(file), rows);
  assert.equal(formatMot([]), '');
});
