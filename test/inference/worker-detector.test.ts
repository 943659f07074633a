import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { ModelError } from '../../daemon/errors.js';
import { loadDetector, type DetectorOptions } from '../../daemon/inference/detector.js';
import { loadWorkerDetector, type WorkerDetector } from '../../daemon/inference/worker-detector.js';
import { createLogger, silentLogger, type Logger } from '../../daemon/log.js';
import type { Frame } from '../../daemon/video/frame.js';
import { repoRoot, sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { gstFrame } from './gst-frame.js';

const options = (model: string, over: Partial<DetectorOptions> = {}): DetectorOptions => ({
  name: model, manifestPath: path.join(repoRoot, 'models', `${model}.json`), modelsDir: sharedPath('models'),
  providers: ['cpu'], threads: 1, ...over,
});

function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('info', { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { log, lines };
}

/** Timer turns the main thread gets while one detect is pending: none while a run blocks it. */
async function turnsDuring(run: () => Promise<unknown>): Promise<number> {
  let turns = 0;
  let pending = true;
  const spin = (): void => {
    if (!pending) return;
    turns++;
    setTimeout(spin, 0);
  };
  setTimeout(spin, 0);
  await run();
  pending = false;
  return turns;
}

for (const model of ['nanodet-m', 'yolox-nano']) {
  void test(`${model} in a worker thread: the same detections as in the main thread, and the main thread keeps running`, async (t) => {
    const dir = await tempDir(t);
    const frame = await gstFrame(sharedPath('images', 'dog.jpg'), dir);
    const { log, lines } = capturingLogger();
    const inMain = await loadDetector(options(model), silentLogger());
    const inWorker = await loadWorkerDetector(options(model), log);
    t.after(() => Promise.all([inMain.close(), inWorker.close()]));

    // The worker's own log lines reach the parent's logger, with its fields.
    assert.ok(lines.some((l) => l['msg'] === 'detector loaded' && l['model'] === model && l['provider'] === 'cpu'),
      `no "detector loaded" line from the worker: ${JSON.stringify(lines)}`);
    assert.deepEqual(inWorker.info, inMain.info);
    assert.deepEqual(inWorker.inputSize(), inMain.inputSize());

    const expected = await inMain.detect(frame);
    assert.ok(expected.length >= 3, `expected objects in dog.jpg, got ${expected.length}`);
    assert.deepEqual(await inWorker.detect(frame), expected);
    assert.deepEqual(await inWorker.detect(frame, { scoreThreshold: 0.9 }), await inMain.detect(frame, { scoreThreshold: 0.9 }));

    // onnxruntime-node's run() holds the thread that calls it; in the worker, the main thread is free.
    const blocked = await turnsDuring(() => inMain.detect(frame));
    const free = await turnsDuring(() => inWorker.detect(frame));
    assert.ok(blocked <= 1, `the main thread ran ${blocked} timer turns during an in-process run (expected it blocked)`);
    assert.ok(free >= 3, `the main thread ran only ${free} timer turns during a worker run`);
    assert.equal(inWorker.profile.runMs.percentiles()?.samples, 3, 'one run time per detect, from the worker');
  });
}

void test('frames handed in together come back in order, each with its own detections, also beyond the pooled input tensors', async (t) => {
  const dir = await tempDir(t);
  const dog = await gstFrame(sharedPath('images', 'dog.jpg'), dir);
  const person = await gstFrame(sharedPath('images', 'person.jpg'), dir);
  const inMain = await loadDetector(options('yolox-nano'), silentLogger());
  const inWorker = await loadWorkerDetector(options('yolox-nano'), silentLogger());
  t.after(() => Promise.all([inMain.close(), inWorker.close()]));
  const want = { dog: await inMain.detect(dog), person: await inMain.detect(person) };
  assert.notDeepEqual(want.dog, want.person);
  // Ten at once: more than the four pooled tensors, so some frames get a tensor of their own.
  // dog.jpg and person.jpg differ in aspect: the tensors change padding layout from frame to frame.
  const frames: Frame[] = Array.from({ length: 10 }, (_, i) => ({ ...(i % 2 === 0 ? dog : person), seq: i }));
  const order: number[] = [];
  const busy0 = inWorker.profile.busy!.totalMs;
  const t0 = performance.now();
  const results = await Promise.all(frames.map((f) => inWorker.detect(f).then((d) => { order.push(f.seq); return d; })));
  const wall = performance.now() - t0;
  assert.deepEqual(order, frames.map((f) => f.seq));
  results.forEach((r, i) => assert.deepEqual(r, i % 2 === 0 ? want.dog : want.person, `frame ${i}`));
  assert.equal((inWorker as unknown as { free: Map<number, unknown[]> }).free.get(1)?.length, 4, 'the tensors beyond the pool are dropped when they come back');

  // The worker's own accounting: its working time covers at least every run and at most the wall
  // time; queued frames waited for nothing, and a frame sent after a pause waited that pause.
  const busy = inWorker.profile.busy!.totalMs - busy0;
  const fastestRun = inWorker.profile.runMs.quantiles([0])![0]!;
  assert.ok(busy >= 10 * fastestRun && busy <= wall, `busy ${busy.toFixed(1)} ms for 10 runs of ≥ ${fastestRun.toFixed(1)} ms in ${wall.toFixed(1)} ms`);
  const queued = inWorker.profile.idleMs!.quantiles([0.5, 1])!;
  assert.equal(inWorker.profile.idleMs!.percentiles()?.samples, 9, 'one wait per frame after the first');
  assert.ok(queued[0]! < fastestRun, `queued frames waited ${queued[0]!.toFixed(2)} ms (p50)`);
  // A deliberate pause (not a wait for a condition): the gap the worker must report.
  await new Promise((r) => setTimeout(r, 150));
  await inWorker.detect(dog);
  const waited = inWorker.profile.idleMs!.quantiles([1])![0]!;
  assert.ok(waited >= 140, `a frame sent 150 ms after the last answer waited ${waited.toFixed(1)} ms`);
});

void test('a bad frame fails alone; a bad model fails at load with the worker\'s message', async (t) => {
  const dir = await tempDir(t);
  const d = await loadWorkerDetector(options('nanodet-m'), silentLogger());
  t.after(() => d.close());
  const big: Frame = { streamId: 's', seq: 1, ts: 0, format: 'BGRx', width: 640, height: 480, data: Buffer.alloc(640 * 480 * 4),
    sourceWidth: 640, sourceHeight: 480 };
  await assert.rejects(d.detect(big), /frame is 640x480, larger than the model input 416x416/);
  const frame = await gstFrame(sharedPath('images', 'dog.jpg'), dir);
  assert.ok((await d.detect(frame)).length > 0, 'the detector works after a bad frame');

  const raw = JSON.parse(await readFile(path.join(repoRoot, 'models', 'nanodet-m.json'), 'utf8')) as Record<string, unknown>;
  const wrong = path.join(dir, 'wrong-sha.json');
  await writeFile(wrong, JSON.stringify({ ...raw, sha256: '0'.repeat(64) }));
  await assert.rejects(loadWorkerDetector(options('nanodet-m', { manifestPath: wrong }), silentLogger()),
    (err) => err instanceof ModelError && /sha256 mismatch: expected 0{64}/.test(err.message));
});

void test('a worker that dies fails its frames, and the next frames after the backoff get a new worker', async (t) => {
  const dir = await tempDir(t);
  const frame = await gstFrame(sharedPath('images', 'dog.jpg'), dir);
  const { log, lines } = capturingLogger();
  const d = await loadWorkerDetector(options('nanodet-m'), log);
  t.after(() => d.close());
  const want = await d.detect(frame);
  // What a native fault in the session looks like from here: the thread is gone. Terminated while
  // idle: a worker terminated inside onnxruntime-node's run() aborts the whole process (its
  // binding throws a C++ Napi::Error on the way out; seen once in five suite runs).
  const worker = (d as unknown as { worker: Worker }).worker;
  const dying = worker.terminate();
  const inFlight = d.detect(frame);
  await dying;
  await assert.rejects(inFlight, (err) => err instanceof ModelError && /inference worker for model nanodet-m stopped/.test(err.message));
  assert.equal(d.workerExits, 1);
  await assert.rejects(d.detect(frame), /is not running/);
  const again = await waitFor('a restarted worker', () => d.detect(frame), 20_000, 100);
  assert.deepEqual(again, want);
  assert.ok(lines.some((l) => l['msg'] === 'inference worker restarted'));
});

void test('close waits for the frames handed in, then refuses new ones', async (t) => {
  const dir = await tempDir(t);
  const frame = await gstFrame(sharedPath('images', 'dog.jpg'), dir);
  const d: WorkerDetector = await loadWorkerDetector(options('yolox-nano'), silentLogger());
  const runs = [d.detect(frame), d.detect(frame), d.detect(frame)];
  await d.close();
  for (const r of await Promise.all(runs)) assert.ok(r.length > 0);
  await assert.rejects(d.detect(frame), /is closed/);
  await d.close();
});
