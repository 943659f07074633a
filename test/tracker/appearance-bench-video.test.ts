import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import jpeg from 'jpeg-js';
import { formatMot, type MotRow } from '../../daemon/analytics/mot/format.js';
import { selfTestFrame } from '../../daemon/models/self-test.js';
import type { Frame } from '../../daemon/video/frame.js';
import { openRoomClip } from '../helpers/room-clip.js';
import { repoRoot, sharedDir, tempDir } from '../helpers/shared.js';

/**
 * `scripts/bench-appearance.ts` end to end, on a sequence with ground truth made here from a
 * BSD-3 clip, so that the cue is scored against ground truth without MOTChallenge's frames (which
 * may not be kept in the repository). one-by-one-person-detection.mp4 at 5 fps, 21.0-28.0 s:
 * nobody but person 2 is in view (they walk in from the bottom left at 23.4 s and stop at the
 * stand), so the identity labels are a fact of the clip, not a judgement: every box is person 2. The frames are
 * written as a MOTChallenge sequence (img1/*.jpg at the analysis size, seqinfo.ini at 5 fps) with
 * a grey pillar painted over x 300-620 (source pixels) from 23.7 to 25.5 s, as in
 * line-occlusion-video.test.ts: the person is hidden for 2 s while they walk on. Ground truth and
 * detections are NanoDet-m's person boxes on the written frames, the ground truth only in the
 * frames where the person is visible. The bench must score the motion-only tracker with the
 * identity switch it makes at the pillar, and the cue with none, at a handful of crops.
 */
const FPS = 5;
const FRAME_MS = 1000 / FPS;
const FROM_MS = 21_000;
const TO_MS = 28_000;
const HIDDEN: [number, number] = [23_700, 25_500];
const PILLAR = { x1: 300, x2: 620 };

/** The frame as RGBA at its own (analysis) size, pillar painted over when hidden. */
function rgba(frame: Frame, hidden: boolean): Buffer {
  const out = Buffer.alloc(frame.width * frame.height * 4);
  const bgr = frame.format === 'BGRx' || frame.format === 'BGRA';
  const sx = frame.width / frame.sourceWidth;
  const x1 = Math.floor(PILLAR.x1 * sx);
  const x2 = Math.ceil(PILLAR.x2 * sx);
  for (let y = 0; y < frame.height; y++) {
    for (let x = 0; x < frame.width; x++) {
      const p = (y * frame.width + x) * 4;
      const grey = hidden && x >= x1 && x < x2;
      out[p] = grey ? 128 : frame.data[p + (bgr ? 2 : 0)]!;
      out[p + 1] = grey ? 128 : frame.data[p + 1]!;
      out[p + 2] = grey ? 128 : frame.data[p + (bgr ? 0 : 2)]!;
      out[p + 3] = 255;
    }
  }
  return out;
}

interface BenchJson {
  rows: {
    sequence: string;
    frames: number;
    off: { metrics: { idsw: number; idf1: number; mota: number } };
    on: { metrics: { idsw: number; idf1: number; mota: number }; stats: { crops: number; reidentified: number } };
  }[];
}

test('bench-appearance scores the cue against ground truth: the pillar switch without it, none with it (real video, NanoDet-m, OSNet)', async (t) => {
  const { detector, video } = await openRoomClip(t, FPS);
  const dir = path.join(await tempDir(t, 'vigil-appearance-bench-'), 'room-pillar');
  await mkdir(path.join(dir, 'img1'), { recursive: true });
  let n = 0;
  for (let f = await video.next(); f; f = await video.next()) {
    const clip = f.seq * FRAME_MS;
    if (clip < FROM_MS) continue;
    if (clip > TO_MS) break;
    n += 1;
    const data = rgba(f, clip >= HIDDEN[0] && clip <= HIDDEN[1]);
    await writeFile(path.join(dir, 'img1', `${String(n).padStart(6, '0')}.jpg`), jpeg.encode({ data, width: f.width, height: f.height }, 95).data);
  }
  assert.equal(n, (TO_MS - FROM_MS) / FRAME_MS + 1, 'decoded 21-28 s');

  // Ground truth and detections, in the written frames' pixels, read back the way the bench reads them.
  const gt: MotRow[] = [];
  const det: MotRow[] = [];
  const hiddenFrames: number[] = [];
  for (let k = 1; k <= n; k++) {
    const frame = await selfTestFrame(path.join(dir, 'img1', `${String(k).padStart(6, '0')}.jpg`), detector.inputSize());
    const people = (await detector.detect(frame)).filter((d) => d.label === 'person' && d.score >= 0.4);
    const clip = FROM_MS + (k - 1) * FRAME_MS;
    if (clip >= HIDDEN[0] && clip <= HIDDEN[1]) {
      hiddenFrames.push(k);
      assert.equal(people.length, 0, `the pillar hides the person at ${clip / 1000} s`);
      continue;
    }
    assert.ok(people.length <= 1, `at most one person in view at ${clip / 1000} s, found ${people.length}`);
    for (const d of people) {
      gt.push({ frame: k, id: 2, box: [...d.box], conf: 1 });
      det.push({ frame: k, id: -1, box: [...d.box], conf: d.score });
    }
  }
  assert.equal(hiddenFrames.length, 9, 'nine frames behind the pillar');
  assert.ok(gt.some((r) => r.frame < hiddenFrames[0]!) && gt.some((r) => r.frame > hiddenFrames.at(-1)!), 'seen before and after the pillar');
  await mkdir(path.join(dir, 'gt'));
  await mkdir(path.join(dir, 'det'));
  await writeFile(path.join(dir, 'gt', 'gt.txt'), formatMot(gt));
  await writeFile(path.join(dir, 'det', 'det.txt'), formatMot(det));
  await writeFile(path.join(dir, 'seqinfo.ini'), `[Sequence]\nname=room-pillar\nframeRate=${FPS}\nseqLength=${n}\n`);

  const out = path.join(dir, 'bench.json');
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(repoRoot, 'dist', 'scripts', 'bench-appearance.js'), '--seq', dir, '--rounds', '1', '--json', out],
    { env: { ...process.env, VIGIL_SHARED_DIR: sharedDir } });
  for (const line of stdout.trimEnd().split('\n')) t.diagnostic(line);
  const { rows } = JSON.parse(await readFile(out, 'utf8')) as BenchJson;
  assert.equal(rows.length, 1);
  const row = rows[0]!;
  assert.equal(row.sequence, 'room-pillar');
  assert.equal(row.frames, n);
  assert.equal(row.off.metrics.idsw, 1, 'motion alone: a new id after the pillar');
  assert.equal(row.on.metrics.idsw, 0, 'with the cue: the same id');
  assert.ok(row.on.metrics.idf1 > row.off.metrics.idf1 + 10, `IDF1 ${row.off.metrics.idf1.toFixed(1)} → ${row.on.metrics.idf1.toFixed(1)}`);
  assert.ok(row.on.metrics.mota > row.off.metrics.mota, `MOTA ${row.off.metrics.mota.toFixed(1)} → ${row.on.metrics.mota.toFixed(1)}`);
  assert.equal(row.on.stats.reidentified, 1, 're-found by appearance once');
  assert.ok(row.on.stats.crops <= 4, `${row.on.stats.crops} crops in ${n} frames`);
});
