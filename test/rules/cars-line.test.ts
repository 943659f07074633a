import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { LineRule, type RuleHit } from '../../daemon/analytics/rules/index.js';
import { StreamAnalyzer } from '../../daemon/analytics/stream-analyzer.js';
import { Tracker } from '../../daemon/analytics/tracker/index.js';
import { lineRuleSchema, streamSchema } from '../../daemon/config/schema.js';
import { loadDetector } from '../../daemon/inference/detector.js';
import { silentLogger } from '../../daemon/log.js';
import type { Frame } from '../../daemon/video/frame.js';
import { VideoStream } from '../../daemon/video/stream.js';
import { repoRoot, sharedPath } from '../helpers/shared.js';

/**
 * car-detection.mp4 (768×432, 12.5 fps, 377 frames), looked at frame by frame once, by hand: the
 * camera looks straight down on a car-park aisle and cars drive up or down the picture. Four
 * cars pass, not three: a white car drives up (frames ~60-105), a grey car down on the left
 * (~190-220) while a red car drives up on the right (~195-235), and a white car down (~320-345).
 * A line across the whole aisle at y = 250 (drawn left to right, so `a` is above it and `b`
 * below) must therefore count 2 cars a_to_b (down) and 2 b_to_a (up), each car once.
 *
 * YOLOX-Nano learnt cars from the side; from above it calls them "cell phone" (score 0.3-0.95),
 * "suitcase" or "bus", so the rule lists those labels and the tracker is class-agnostic. The line
 * sits at y = 250 rather than mid-frame because the detector first sees the grey car with its
 * bottom edge at y ≈ 211: a line above that would see it appear already across.
 */

// Frames are timed by their place in the clip, not by when they were decoded: with realtime false
// the file decodes faster than real time, and dwell times and Kalman steps must be in clip time.
const FRAME_MS = 80;

test('car-detection.mp4 → YOLOX-Nano → tracker → line: 2 cars down (a_to_b), 2 up (b_to_a)', async (t) => {
  const log = silentLogger();
  const detector = await loadDetector({
    name: 'yolox-nano', manifestPath: path.join(repoRoot, 'models', 'yolox-nano.json'), modelsDir: sharedPath('models'),
    providers: ['cpu'], threads: 1,
  }, log);
  t.after(() => detector.close());
  const size = detector.inputSize();
  const config = streamSchema.parse({
    id: 'aisle', uri: pathToFileURL(sharedPath('video', 'car-detection.mp4')).href, model: 'yolox-nano', realtime: false, fps: 12.5,
    tracker: { class_agnostic: true },
  });
  const video = new VideoStream(config, { log, analysis: { width: size.width, height: size.height, resize: size.letterbox ? 'fit' : 'stretch', format: 'BGRx' } });
  await video.start(new AbortController().signal);
  t.after(() => video.stop());

  const rule = new LineRule(lineRuleSchema.parse({
    id: 'aisle-line', stream: 'aisle', kind: 'line', classes: ['car', 'truck', 'bus', 'cell phone', 'suitcase'], min_score: 0.3,
    line: [[0, 250], [768, 250]], margin: 8,
  }));
  const hits: RuleHit[] = [];
  const t0 = Date.UTC(2024, 0, 1);
  const analyzer = new StreamAnalyzer({
    streamId: 'aisle',
    source: {
      async* frames(): AsyncIterable<Frame> {
        for (let f = await video.next(); f; f = await video.next()) yield { ...f, ts: t0 + f.seq * FRAME_MS };
      },
    },
    detector, motion: null, rules: [rule], tracker: new Tracker(config.tracker),
    sink: { record: (h) => { hits.push(h); return `e${hits.length}`; } }, log,
  });
  await analyzer.run(new AbortController().signal);

  const crossings = hits.map((h) => `${String(h.details?.['direction'])} track ${h.trackId} at frame ${(h.ts - t0) / FRAME_MS}`);
  t.diagnostic(`${analyzer.stats.framesAnalysed} frames: ${crossings.join('; ')}`);
  assert.ok(analyzer.stats.framesAnalysed >= 370, `${analyzer.stats.framesAnalysed} frames analysed`);
  assert.deepEqual(rule.counts, { a_to_b: 2, b_to_a: 2 }, crossings.join('; '));
  // Each car once: four different tracks, at the times the cars were seen crossing by hand.
  assert.equal(new Set(hits.map((h) => h.trackId)).size, 4);
  const frames = hits.map((h) => (h.ts - t0) / FRAME_MS).sort((a, b) => a - b);
  const windows: [number, number][] = [[60, 110], [190, 240], [190, 240], [320, 377]];
  frames.forEach((f, i) => assert.ok(f >= windows[i]![0] && f <= windows[i]![1], `crossing ${i + 1} at frame ${f}`));
});
