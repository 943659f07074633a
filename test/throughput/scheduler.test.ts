import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { StreamAnalyzer } from '../../daemon/analytics/stream-analyzer.js';
import { streamSchema } from '../../daemon/config/schema.js';
import { loadDetector, type Detector } from '../../daemon/inference/detector.js';
import { loadWorkerDetector } from '../../daemon/inference/worker-detector.js';
import { FrameSkipped, InferenceScheduler, type SchedulerLane, type StreamPriority } from '../../daemon/inference/scheduler.js';
import type { Detection } from '../../daemon/inference/types.js';
import { silentLogger } from '../../daemon/log.js';
import type { Frame } from '../../daemon/video/frame.js';
import { VideoStream } from '../../daemon/video/stream.js';
import { repoRoot, sharedPath, waitFor } from '../helpers/shared.js';

const log = silentLogger();

function yolox(): Promise<Detector> {
  return loadDetector({
    name: 'yolox-nano', manifestPath: path.join(repoRoot, 'models', 'yolox-nano.json'), modelsDir: sharedPath('models'),
    providers: ['cpu'], threads: 1,
  }, log);
}

/** As the daemon runs it: the session in a worker thread, two frames handed in at a time. */
function yoloxWorker(): ReturnType<typeof loadWorkerDetector> {
  return loadWorkerDetector({
    name: 'yolox-nano', manifestPath: path.join(repoRoot, 'models', 'yolox-nano.json'), modelsDir: sharedPath('models'),
    providers: ['cpu'], threads: 1,
  }, log);
}

/** Real frames of the plaza clip, scaled for the detector as the daemon would. */
async function plazaFrames(detector: Detector, count: number, every: number): Promise<Frame[]> {
  const size = detector.inputSize();
  const video = new VideoStream(streamSchema.parse({
    id: 'plaza', uri: pathToFileURL(sharedPath('video', 'pedestrians.mp4')).href, realtime: false, fps: 30,
  }), { log, analysis: { width: size.width, height: size.height, resize: 'fit', format: 'BGRx' } });
  await video.start(new AbortController().signal);
  const frames: Frame[] = [];
  try {
    for (let f = await video.next(); f && frames.length < count; f = await video.next()) if (f.seq % every === 0) frames.push(f);
  } finally {
    await video.stop();
  }
  return frames;
}

const boxes = (ds: readonly Detection[]): string => ds.map((d) => `${d.label}@${d.box.map((v) => v.toFixed(1)).join(',')}`).join(' ');

test('overload: with twice the streams the model can serve, the high-priority stream keeps >= 90% of its fps and the rest share fairly', async (t) => {
  const detector = await yoloxWorker();
  t.after(() => detector.close());
  // Capacity first, on this machine as it is now: the test sizes its overload from it.
  const [probe] = await plazaFrames(detector, 1, 10);
  assert.ok(probe);
  // onnxruntime's first few dozen runs are up to twice as slow: warm up by time before measuring.
  for (const w0 = performance.now(); performance.now() - w0 < 1500;) await detector.detect(probe);
  const times: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < 1500) {
    const r0 = performance.now();
    await detector.detect(probe);
    times.push(performance.now() - r0);
  }
  // The median run: other work on a shared machine comes and goes, and a mean would follow it.
  const capacity = 1000 / (times.sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? 1);
  // The high-priority stream asks for at most a quarter of that, at a camera-like rate (at most
  // 8 fps: its frame interval must outlast a slow run of another stream's frame on a loaded
  // machine, as the scheduler does not preempt); the others at 30 fps each for three times it
  // (a shared machine's capacity moves, so the test checks afterwards, from what was actually
  // served, that the streams asked for at least twice as much).
  const fps = Math.max(2, Math.min(8, Math.floor(capacity / 4)));
  const otherFps = 30;
  const streams = 1 + Math.max(3, Math.ceil((3 * capacity) / otherFps));

  const scheduler = new InferenceScheduler(detector);
  t.after(() => scheduler.close());
  const running = new AbortController();
  interface Part { id: string; priority: StreamPriority; fps: number; video: VideoStream; lane: SchedulerLane; analyzer: StreamAnalyzer; done: Promise<void> }
  const parts: Part[] = [];
  t.after(async () => {
    running.abort();
    await Promise.all(parts.map((p) => p.video.stop()));
  });
  const addStream = async (): Promise<void> => {
    const i = parts.length;
    const id = `cam${i}`;
    const priority: StreamPriority = i === 0 ? 'high' : 'normal';
    const rate = i === 0 ? fps : otherFps;
    // Alternate test patterns, so the model does not see one picture only.
    const config = streamSchema.parse({ id, uri: `test://${i % 2 === 0 ? 'ball' : 'smpte'}?width=320&height=240&fps=${rate}`, fps: rate, priority });
    const video = new VideoStream(config, { log, analysis: { width: 416, height: 416, resize: 'fit', format: 'BGRx' } });
    const lane = scheduler.lane({ streamId: id, priority, fps: rate });
    const analyzer = new StreamAnalyzer({ streamId: id, source: video, detector: lane, motion: null, rules: [], sink: { record: () => 'id' }, log,
      pipelineDepth: detector.pipelineDepth });
    parts.push({ id, priority, fps: rate, video, lane, analyzer, done: Promise.resolve() });
    await video.start(running.signal);
    (parts[i] as Part).done = analyzer.run(running.signal);
  };
  const demand = (): number => parts.reduce((n, p) => n + p.fps, 0);
  const served = (): number => parts.reduce((n, p) => n + p.lane.stats.served, 0);
  for (let i = 0; i < streams; i++) await addStream();
  await waitFor('every stream analysing', () => (parts.every((p) => p.lane.stats.served > 0) ? true : undefined), 20_000);
  // What the machine serves now, with every pipeline running; more streams until they ask for 2.5 times that.
  const s0 = served();
  await new Promise((r) => setTimeout(r, 2000));
  const serving = (served() - s0) / 2;
  while (demand() < 2.5 * serving) await addStream();
  await waitFor('every stream analysing', () => (parts.every((p) => p.lane.stats.served > 0) ? true : undefined), 20_000);

  const before = parts.map((p) => p.lane.stats.served);
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, 6000));
  const seconds = (performance.now() - w0) / 1000;
  const rates = parts.map((p, i) => (p.lane.stats.served - (before[i] ?? 0)) / seconds);
  const detail = parts.map((p, i) => `${p.id}(${p.priority}) ${rates[i]?.toFixed(1)} fps, pulled ${p.video.status().framesPulled}, ` +
    `dropped ${p.video.status().framesDropped}, skipped ${p.lane.stats.skipped}`).join('; ');
  const summary = `capacity ${capacity.toFixed(1)}/s alone, ${serving.toFixed(1)}/s served at warm-up; 1 stream at ${fps} fps and ${parts.length - 1} at ${otherFps}: ${detail}`;
  t.diagnostic(summary);

  const high = rates[0] ?? 0;
  assert.ok(high >= 0.9 * fps, `high-priority stream below 90% of ${fps} fps: ${summary}`);
  const others = rates.slice(1);
  const total = rates.reduce((a, b) => a + b, 0);
  assert.ok(demand() >= 2 * total, `the streams asked for less than twice what the machine served: ${summary}`);
  // Fair: no normal stream gets less than three quarters of what the best-served one gets.
  assert.ok(Math.min(...others) >= 0.75 * Math.max(...others), `normal streams not shared fairly: ${summary}`);

  running.abort();
  await Promise.all(parts.map((p) => p.video.stop()));
  await Promise.all(parts.map((p) => p.done));
  // Every frame pulled was analysed or counted as dropped (by the frame slot, or skipped by the scheduler).
  for (const p of parts) {
    const st = p.video.status();
    const a = p.analyzer.stats;
    assert.equal(a.pendingInferences, 0, p.id);
    assert.equal(a.framesAnalysed, a.inferences + a.skippedFrames + a.inferenceErrors, p.id);
    assert.equal(a.skippedFrames, p.lane.stats.skipped, p.id);
    const unaccounted = st.framesPulled - a.framesAnalysed - st.framesDropped;
    assert.ok(unaccounted >= 0 && unaccounted <= 1, `${p.id}: ${st.framesPulled} pulled, ${a.framesAnalysed} analysed, ${st.framesDropped} dropped`);
  }
  const lost = parts.slice(1).reduce((n, p) => n + p.video.status().framesDropped + p.lane.stats.skipped, 0);
  assert.ok(lost > 0, `overloaded normal streams must have lost frames: ${summary}`);
});

test('batching: with a batch-capable model, waiting streams go in one run, by priority, each getting its own frame\'s detections', async (t) => {
  const detector = await yolox();
  t.after(() => detector.close());
  const frames = await plazaFrames(detector, 4, 60);
  assert.equal(frames.length, 4);
  const expected: string[] = [];
  for (const f of frames) expected.push(boxes(await detector.detect(f)));
  assert.ok(new Set(expected).size > 1, 'the frames should differ');

  // Both shipped models are exported with a fixed batch of 1: this one runs the real detector frame
  // by frame behind the batch interface, to pin down the order of picks (one run at a time). Real
  // batched runs through onnxruntime, on a dynamic-batch model: test/inference/batch.test.ts.
  const batches: string[][] = [];
  const scheduler = new InferenceScheduler({
    maxBatch: 2,
    detect: (f) => {
      batches.push([f.streamId]);
      return detector.detect(f);
    },
    detectBatch: async (fs) => {
      batches.push(fs.map((f) => f.streamId));
      const out: Detection[][] = [];
      for (const f of fs) out.push(await detector.detect(f));
      return out;
    },
  });
  const priorities: StreamPriority[] = ['low', 'normal', 'high', 'normal'];
  const lanes = priorities.map((priority, i) => scheduler.lane({ streamId: `s${i}`, priority, fps: 1, skipStale: false }));
  const tagged = frames.map((f, i) => ({ ...f, streamId: `s${i}` }));
  // s0 alone starts a run at once; the others wait for it and then share runs of two.
  const results = await Promise.all(lanes.map((lane, i) => lane.detect(tagged[i] as Frame)));
  assert.deepEqual(batches, [['s0'], ['s2', 's1'], ['s3']]);
  assert.deepEqual(results.map(boxes), expected);
  assert.deepEqual(lanes.map((l) => l.stats.batched), [0, 1, 1, 0]);
  assert.equal(scheduler.runs, 3);
  assert.equal(scheduler.framesRun, 4);
});

test('a frame that waited longer than its stream\'s frame interval is skipped and counted; the stream keeps its turn', async () => {
  let now = 0;
  const started: string[] = [];
  const finish: (() => void)[] = [];
  const scheduler = new InferenceScheduler({
    detect: (f) => new Promise((resolve) => {
      started.push(`${f.streamId}#${f.seq}`);
      finish.push(() => resolve([]));
    }),
  }, { now: () => now });
  const frame = (streamId: string, seq: number): Frame => ({
    streamId, seq, ts: seq, format: 'BGRx', width: 1, height: 1, data: Buffer.alloc(4), sourceWidth: 1, sourceHeight: 1,
  });
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  };
  /** Ends the run in progress and lets the scheduler pick the next. */
  const endRun = async (): Promise<void> => {
    const end = finish.shift();
    assert.ok(end, 'no run in progress');
    end();
    await settle();
  };
  const a = scheduler.lane({ streamId: 'a', priority: 'normal', fps: 10 });
  const b = scheduler.lane({ streamId: 'b', priority: 'normal', fps: 10 });
  const results: Promise<unknown>[] = [];
  // Each stream as its analysis loop behaves: when a frame is done (or skipped), the next goes in at once.
  const loop = (lane: typeof a, id: string, seqs: number[]): void => {
    const seq = seqs.shift();
    if (seq === undefined) return;
    const r = lane.detect(frame(id, seq)).then(() => 'ran', (err: unknown) => {
      if (!(err instanceof FrameSkipped)) throw err;
      return 'skipped';
    });
    results.push(r.then((outcome) => {
      loop(lane, id, seqs);
      return `${id}#${seq} ${outcome}`;
    }));
  };
  loop(a, 'a', [1, 2, 3]);
  loop(b, 'b', [1, 2, 3]);
  assert.deepEqual(started, ['a#1']);
  now = 150; // b#1 is now older than b's 100 ms frame interval: b has a newer frame
  await endRun();
  // b#1 was skipped, and b's newest frame ran before a's next one: it was b's turn.
  assert.deepEqual(started, ['a#1', 'b#2']);
  await endRun();
  assert.deepEqual(started, ['a#1', 'b#2', 'a#2']);
  await endRun();
  await endRun();
  await endRun();
  assert.deepEqual(started, ['a#1', 'b#2', 'a#2', 'b#3', 'a#3']);
  assert.deepEqual((await Promise.all(results)).sort(), ['a#1 ran', 'a#2 ran', 'a#3 ran', 'b#1 skipped', 'b#2 ran', 'b#3 ran']);
  assert.deepEqual([a.stats.served, a.stats.skipped, b.stats.served, b.stats.skipped], [3, 0, 2, 1]);

  // A newer frame from the same stream replaces the one waiting, which is counted as skipped.
  const first = a.detect(frame('a', 4));
  const replaced = assert.rejects(b.detect(frame('b', 4)), FrameSkipped);
  const newest = b.detect(frame('b', 5));
  await replaced;
  await endRun();
  await first;
  await endRun();
  await newest;
  assert.deepEqual(started.slice(-2), ['a#4', 'b#5']);
  assert.equal(b.stats.skipped, 2);
  scheduler.close();
  await assert.rejects(a.detect(frame('a', 6)), FrameSkipped);
});

test('pipelining: a worker-thread model is handed a second frame while it runs one, never a third; depth 1 hands one', async (t) => {
  const detector = await yoloxWorker();
  t.after(() => detector.close());
  const frames = await plazaFrames(detector, 12, 3);
  // The real model behind a counter of the calls it holds at once.
  let inFlight = 0;
  let most = 0;
  const counted = {
    pipelineDepth: detector.pipelineDepth,
    detect: async (f: Frame): Promise<Detection[]> => {
      most = Math.max(most, ++inFlight);
      try {
        return await detector.detect(f);
      } finally {
        inFlight--;
      }
    },
  };
  for (const depth of [2, 1]) {
    most = 0;
    const scheduler = new InferenceScheduler(counted, depth === 1 ? { depth: 1 } : {});
    const results = new Map<string, Detection[][]>();
    // Three streams, each with its analysis loop two frames deep, as the daemon runs them.
    await Promise.all(['a', 'b', 'c'].map(async (id) => {
      const lane = scheduler.lane({ streamId: id, priority: 'normal', fps: 30, skipStale: false });
      const out: Detection[][] = [];
      results.set(id, out);
      const analyzer = new StreamAnalyzer({
        streamId: id, motion: null, rules: [], sink: { record: () => 'id' }, log, pipelineDepth: depth,
        source: { async* frames(): AsyncIterable<Frame> { for (const f of frames) yield await Promise.resolve({ ...f, streamId: id }); } },
        detector: { detect: async (f) => { const d = await lane.detect(f); out.push(d); return d; } },
      });
      await analyzer.run(new AbortController().signal);
      assert.equal(analyzer.stats.inferences, frames.length, `${id} at depth ${depth}`);
    }));
    assert.equal(most, depth, `most calls held by the model at once at depth ${depth}`);
    // Frame order and each frame's own detections survive the overlap.
    const alone = await Promise.all(frames.map((f) => detector.detect(f)));
    for (const [id, out] of results) assert.deepEqual(out.map(boxes), alone.map(boxes), `${id} at depth ${depth}`);
  }
});
