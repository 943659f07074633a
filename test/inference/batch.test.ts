import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ModelError } from '../../daemon/errors.js';
import { loadDetector, type Detector, type DetectorOptions } from '../../daemon/inference/detector.js';
import { InferenceScheduler } from '../../daemon/inference/scheduler.js';
import type { Detection } from '../../daemon/inference/types.js';
import { loadWorkerDetector } from '../../daemon/inference/worker-detector.js';
import { silentLogger } from '../../daemon/log.js';
import { SwappableDetector } from '../../daemon/models/swappable-detector.js';
import type { Frame } from '../../daemon/video/frame.js';
import { writeBatchYolox, writeYoloxLike } from '../helpers/onnx-writer.js';
import { sharedPath, tempDir } from '../helpers/shared.js';
import { gstFrame } from './gst-frame.js';

const SIZE = 64;

/** A manifest for `file` as the batch model needs it; `over` replaces input fields. */
async function manifest(dir: string, file: string, over: Record<string, unknown> = {}, classes = 3): Promise<string> {
  const sha256 = createHash('sha256').update(await readFile(file)).digest('hex');
  const m = path.join(dir, `${path.basename(file, '.onnx')}-${Object.keys(over).join('-') || 'plain'}.json`);
  await writeFile(m, JSON.stringify({
    file, sha256, family: 'yolox', labels: classes === 3 ? ['blue', 'green', 'red'] : Array.from({ length: classes }, (_, i) => `c${i}`),
    input: { name: 'images', width: SIZE, height: SIZE, colour: 'bgr', scale: 1 / 255, max_batch: 4, ...over },
    thresholds: { score: 0.5, iou: 0.45 },
  }));
  return m;
}

const options = (manifestPath: string): DetectorOptions => ({ name: 'batch', manifestPath, providers: ['cpu'], threads: 1 });

async function photos(dir: string, names = ['dog.jpg', 'person.jpg', 'dog.jpg']): Promise<Frame[]> {
  const decoded = new Map<string, Frame>();
  // One at a time: gstFrame names its output after the image.
  for (const n of new Set(names)) decoded.set(n, await gstFrame(sharedPath('images', n), dir, 'BGRx', SIZE));
  return names.map((n, i) => ({ ...(decoded.get(n) as Frame), streamId: `cam${i}`, seq: i }));
}

/** What each frame gives on its own: the reference a batch must reproduce. */
async function oneByOne(d: Detector, frames: readonly Frame[]): Promise<Detection[][]> {
  const out: Detection[][] = [];
  for (const f of frames) out.push(await d.detect(f));
  return out;
}

void test('a model with a dynamic batch runs several frames in one run, each getting exactly its own detections', async (t) => {
  const dir = await tempDir(t);
  const model = path.join(dir, 'batch.onnx');
  await writeBatchYolox(model, SIZE);
  const m = await manifest(dir, model);
  const frames = await photos(dir);

  const inMain = await loadDetector(options(m), silentLogger());
  const inWorker = await loadWorkerDetector(options(m), silentLogger());
  t.after(() => Promise.all([inMain.close(), inWorker.close()]));
  assert.equal(inMain.maxBatch, 4);
  assert.equal(inWorker.maxBatch, 4);

  const want = await oneByOne(inMain, frames);
  assert.ok(want[0] !== undefined && want[0].length > 0, 'the dog photo should give boxes');
  assert.notDeepEqual(want[0], want[1], 'the two photos should give different boxes');

  const runsBefore = inMain.profile.runMs.percentiles()?.samples ?? 0;
  assert.deepEqual(await inMain.detectBatch(frames), want);
  assert.equal((inMain.profile.runMs.percentiles()?.samples ?? 0) - runsBefore, 1, 'three frames, one onnxruntime run');
  // Twice more in the worker: the second batch reuses the tensor that came back from the first.
  assert.deepEqual(await inWorker.detectBatch(frames), want);
  assert.deepEqual(await inWorker.detectBatch([...frames].reverse()), [...want].reverse());
  assert.deepEqual(await inWorker.detect(frames[1] as Frame), want[1]);

  await assert.rejects(inWorker.detectBatch([...frames, ...frames]), /a batch of 6 frames, but model batch takes 1 to 4/);
  await assert.rejects(inMain.detectBatch([...frames, ...frames]), /a batch of 6 frames, but the model takes 1 to 4/);
});

void test('max_batch above 1 on a model exported with a fixed batch is refused at load, saying which', async (t) => {
  const dir = await tempDir(t);
  const model = path.join(dir, 'fixed.onnx');
  await writeYoloxLike(model, { size: SIZE, output: 'zero' });
  // writeYoloxLike has YOLOX's own 80 classes.
  const m = await manifest(dir, model, {}, 80);
  for (const load of [loadDetector, loadWorkerDetector]) {
    await assert.rejects(load(options(m), silentLogger()),
      (err) => err instanceof ModelError && /input.max_batch is 4, but input "images" has a fixed batch dimension of 1/.test(err.message));
  }
  const single = await loadDetector(options(await manifest(dir, model, { max_batch: 1 }, 80)), silentLogger());
  t.after(() => single.close());
  assert.equal(single.maxBatch, 1);
});

void test('the scheduler batches waiting streams through the real model, and a bad frame in a batch fails alone', async (t) => {
  const dir = await tempDir(t);
  const model = path.join(dir, 'batch.onnx');
  await writeBatchYolox(model, SIZE);
  const m = await manifest(dir, model);
  const frames = await photos(dir, ['dog.jpg', 'person.jpg', 'dog.jpg', 'person.jpg', 'dog.jpg']);
  const reference = await loadDetector(options(m), silentLogger());
  t.after(() => reference.close());
  const want = await oneByOne(reference, frames);

  const detector = new SwappableDetector(await loadWorkerDetector(options(m), silentLogger()), 'v1');
  t.after(() => detector.close());
  assert.equal(detector.maxBatch, 4);
  const scheduler = new InferenceScheduler(detector);
  const lanes = frames.map((f) => scheduler.lane({ streamId: f.streamId, priority: 'normal', fps: 1, skipStale: false }));
  // Handed in together: cam0 and cam1 each start a run at once (the worker takes two, pipeline
  // depth 2); the three others wait and go in one batch when the first run ends.
  assert.deepEqual(await Promise.all(lanes.map((l, i) => l.detect(frames[i] as Frame))), want);
  assert.equal(scheduler.framesRun, 5);
  assert.equal(scheduler.runs, 3);
  assert.deepEqual(lanes.map((l) => l.stats.batched), [0, 0, 1, 1, 1]);
  assert.equal(detector.recent().length, 5, 'one probation sample per frame');

  // cam3's frame is larger than the model input: the batch fails, each of its frames then runs alone.
  const big: Frame = { ...(frames[3] as Frame), width: SIZE * 2, height: SIZE, data: Buffer.alloc(SIZE * 2 * SIZE * 4) };
  const handed = frames.map((f, i) => (i === 3 ? big : f));
  const settled = await Promise.allSettled(lanes.map((l, i) => l.detect(handed[i] as Frame)));
  settled.forEach((r, i) => {
    if (i === 3) {
      assert.ok(r.status === 'rejected' && /frame is 128x64, larger than the model input 64x64/.test(String(r.reason)), `cam3: ${String(r.status)}`);
    } else {
      assert.deepEqual(r.status === 'fulfilled' ? r.value : r, want[i], `cam${i}`);
    }
  });
  assert.equal(scheduler.batchFallbacks, 1);
});
