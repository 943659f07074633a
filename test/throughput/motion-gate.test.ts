import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { MotionGate } from '../../daemon/analytics/motion-gate.js';
import { StreamAnalyzer } from '../../daemon/analytics/stream-analyzer.js';
import { motionGateFor } from '../../daemon/analytics/throughput-config.js';
import { streamSchema } from '../../daemon/config/schema.js';
import { loadDetector, type Detector } from '../../daemon/inference/detector.js';
import type { Detection } from '../../daemon/inference/types.js';
import { silentLogger } from '../../daemon/log.js';
import { MotionDetector } from '../../daemon/motion/motion-detector.js';
import type { Frame } from '../../daemon/video/frame.js';
import { VideoStream } from '../../daemon/video/stream.js';
import { repoRoot, sharedPath } from '../helpers/shared.js';

/**
 * car-detection.mp4 (12.5 fps) looks down on an empty car-park aisle until a white car drives in
 * at about frame 55-60 (see test/rules/cars-line.test.ts): a real still period followed by an
 * object entering. Frames are timed by their place in the clip, as a camera would deliver them.
 */
const FRAME_MS = 80;
const FRAMES = 100;
const T0 = Date.UTC(2024, 0, 1);
/** What YOLOX-Nano calls a car seen from above (see cars-line.test.ts). */
const CARLIKE = new Set(['car', 'truck', 'bus', 'cell phone', 'suitcase']);

async function clipFrames(detector: Detector): Promise<Frame[]> {
  const size = detector.inputSize();
  const video = new VideoStream(streamSchema.parse({
    id: 'aisle', uri: pathToFileURL(sharedPath('video', 'car-detection.mp4')).href, realtime: false, fps: 12.5,
  }), { log: silentLogger(), analysis: { width: size.width, height: size.height, resize: 'fit', format: 'BGRx' } });
  await video.start(new AbortController().signal);
  const frames: Frame[] = [];
  try {
    for (let f = await video.next(); f && frames.length < FRAMES; f = await video.next()) frames.push({ ...f, ts: T0 + f.seq * FRAME_MS });
  } finally {
    await video.stop();
  }
  assert.equal(frames.length, FRAMES, 'the clip delivered fewer frames than expected');
  return frames;
}

interface Run {
  inferred: number[];
  firstCar: number | undefined;
  firstMotion: number | undefined;
  gated: number;
}

async function analyse(frames: readonly Frame[], detector: Detector, gate: MotionGate | null): Promise<Run> {
  const run: Run = { inferred: [], firstCar: undefined, firstMotion: undefined, gated: 0 };
  const motion = new MotionDetector({ threshold: 25, minArea: 0.002 });
  const analyzer = new StreamAnalyzer({
    streamId: 'aisle',
    source: {
      async* frames() {
        for (const f of frames) {
          await Promise.resolve(); // hand control back between frames, as a real pipeline does
          yield f;
        }
      },
    },
    motion: {
      detect: (f) => {
        const r = motion.detect(f);
        if (r.motion) run.firstMotion ??= f.seq;
        return r;
      },
    },
    detector: {
      detect: async (f): Promise<Detection[]> => {
        run.inferred.push(f.seq);
        const found = await detector.detect(f);
        if (found.some((d) => CARLIKE.has(d.label) && d.score >= 0.3)) run.firstCar ??= f.seq;
        return found;
      },
    },
    gate, rules: [], sink: { record: () => 'id' }, log: silentLogger(),
  });
  await analyzer.run(new AbortController().signal);
  run.gated = analyzer.stats.gatedFrames;
  return run;
}

test('motion gating: a still aisle is inferred only at the keep-alive, and the entering car is seen on the same frame as without gating', async (t) => {
  const detector = await loadDetector({
    name: 'yolox-nano', manifestPath: path.join(repoRoot, 'models', 'yolox-nano.json'), modelsDir: sharedPath('models'),
    providers: ['cpu'], threads: 1,
  }, silentLogger());
  t.after(() => detector.close());
  const frames = await clipFrames(detector);

  const every = await analyse(frames, detector, null);
  const gated = await analyse(frames, detector, new MotionGate({ keepaliveMs: 2000, holdMs: 1000 }));
  const summary = `first motion ${gated.firstMotion}, car first seen ungated ${every.firstCar}, gated ${gated.firstCar}; inferred ${gated.inferred.join(',')}`;

  assert.equal(every.inferred.length, FRAMES);
  assert.ok(gated.firstMotion !== undefined && gated.firstMotion >= 40, `the aisle should be still for the first 40 frames: ${summary}`);
  assert.ok(every.firstCar !== undefined && every.firstCar >= gated.firstMotion, `the car should appear after the motion starts: ${summary}`);
  // The frame that first showed motion is itself inferred: nothing waits for a keep-alive.
  assert.ok(gated.inferred.includes(gated.firstMotion), summary);
  assert.equal(gated.firstCar, every.firstCar, `gating must not delay the first sighting of the car: ${summary}`);
  // Still frames before the car: one inference at the start and one per 2 s keep-alive (frames 0, 25, 50).
  const stillInferred = gated.inferred.filter((s) => s < gated.firstMotion!);
  assert.ok(stillInferred.length >= 2 && stillInferred.length <= 3, summary);
  assert.equal(gated.inferred.length + gated.gated, FRAMES);
  // The car keeps moving through frame 100: every frame from the onset on is inferred.
  const fromOnset = gated.inferred.filter((s) => s >= gated.firstMotion!);
  assert.equal(fromOnset.length, FRAMES - gated.firstMotion, summary);
});

test('motion gate decisions: motion, hold, keep-alive, and a missed run leaves the keep-alive due', () => {
  const gate = new MotionGate({ keepaliveMs: 1000, holdMs: 300 });
  const still = { motion: false, score: 0, regions: [] };
  const moving = { motion: true, score: 0.1, regions: [] };
  assert.equal(gate.decide(0, still), 'keepalive'); // nothing inferred yet
  assert.equal(gate.decide(100, still), 'still');
  assert.equal(gate.decide(200, moving), 'motion');
  assert.equal(gate.decide(400, still), 'hold');
  assert.equal(gate.decide(600, still), 'still');
  assert.equal(gate.decide(1400, still), 'keepalive');
  gate.missed();
  assert.equal(gate.decide(1500, still), 'keepalive');
  assert.equal(gate.decide(1600, still), 'still');
  assert.equal(gate.decide(1700, undefined), 'motion'); // no motion result: never skip on missing evidence
  assert.notEqual(gate.decide(500, still), 'still'); // the clock stepped back: inferred, not stalled
});

test('gating is built only when enabled and the motion detector runs', () => {
  const base = { id: 's', uri: 'test://ball' };
  assert.equal(motionGateFor(streamSchema.parse(base)), null);
  assert.ok(motionGateFor(streamSchema.parse({ ...base, motion: { gate: { enabled: true } } })) instanceof MotionGate);
  assert.equal(motionGateFor(streamSchema.parse({ ...base, motion: { enabled: false, gate: { enabled: true } } })), null);
  assert.throws(() => streamSchema.parse({ ...base, motion: { gate: { keepalive_s: 0 } } }), /keepalive_s/);
  assert.throws(() => streamSchema.parse({ ...base, priority: 'urgent' }), /priority/);
});
