import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ClipMuxer } from '../../daemon/evidence/clip-muxer.js';
import { writeClip } from '../../daemon/evidence/clip-writer.js';
import { tempDir } from '../helpers/shared.js';
import { accessUnitsOf, decodeMp4, makeX264 } from './clip-fixtures.js';

test('access units muxed without re-encoding play back in GStreamer: every frame, the right duration, a keyframe first', async (t) => {
  const dir = await tempDir(t);
  const src = await makeX264(dir, { seconds: 4, fps: 10, keyInt: 10 });
  const units = await accessUnitsOf(src);
  assert.equal(units.length, 40);
  const w = await writeClip(dir, 'clip.mp4', units);
  assert.equal(w.frames, 40);
  assert.equal(w.durationS, 4);
  const bytes = await readFile(w.path);
  assert.equal(bytes.length, w.bytes);
  assert.equal(createHash('sha256').update(bytes).digest('hex'), w.sha256, 'the hash taken on the way out is the file\'s');
  // Fast start: the index (moov) comes before the media (mdat), so a browser plays from the first bytes.
  assert.ok(bytes.indexOf('moov') < bytes.indexOf('mdat'), 'moov before mdat');
  const d = await decodeMp4(w.path);
  assert.equal(d.frames, 40);
  assert.ok(Math.abs(d.durationS - 4) < 0.05, `duration ${d.durationS}`);
  assert.ok(d.firstIsKey);
});

test('a clip that does not start on a keyframe is refused, not written broken', async (t) => {
  const dir = await tempDir(t);
  const units = await accessUnitsOf(await makeX264(dir, { seconds: 2, fps: 10, keyInt: 10 }));
  await assert.rejects(writeClip(dir, 'bad.mp4', units.slice(1)), /must start with a keyframe/);
});

test('fragmented output (for Media Source) is an init segment and fragments on keyframes, and GStreamer plays it', async (t) => {
  const dir = await tempDir(t);
  const units = await accessUnitsOf(await makeX264(dir, { seconds: 4, fps: 10, keyInt: 10 }));
  const chunks: Buffer[] = [];
  let next = 0;
  const muxer = new ClipMuxer(units[0]!.track, (data, position) => {
    assert.equal(position, next, 'fragments come in file order');
    next += data.length;
    chunks.push(Buffer.from(data));
  }, 'fragmented', { fragmentS: 1 });
  for (const u of units) await muxer.add(u);
  const r = await muxer.finish();
  assert.equal(r.frames, 40);
  const all = Buffer.concat(chunks);
  const count = (box: string): number => all.toString('latin1').split(box).length - 1;
  assert.ok(count('moof') >= 3, `${count('moof')} fragments`);
  assert.ok(all.indexOf('moov') < all.indexOf('moof'));
  const file = path.join(dir, 'live.mp4');
  await writeFile(file, all);
  const d = await decodeMp4(file);
  assert.equal(d.frames, 40);
  assert.ok(d.firstIsKey);
});
