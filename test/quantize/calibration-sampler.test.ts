import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { Detection } from '../../daemon/inference/types.js';
import { CalibrationSampler } from '../../daemon/models/quantize/calibration-sampler.js';
import { framesFromVideo } from '../../daemon/models/quantize/frames.js';
import { quantizeModel } from '../../daemon/models/quantize/quantize.js';
import type { MotionResult } from '../../daemon/motion/motion-detector.js';
import type { Frame } from '../../daemon/video/frame.js';
import { repoRoot, sharedPath } from '../helpers/shared.js';

const W = 64;
const H = 36;
const frameAt = (seq: number, ts: number): Frame => ({ streamId: 'cam', seq, ts, format: 'BGRx', width: W, height: H,
  data: Buffer.alloc(W * H * 4, seq % 256), sourceWidth: 640, sourceHeight: 360 });
const still: MotionResult = { motion: false, score: 0, regions: [] };
const moving: MotionResult = { motion: true, score: 0.05, regions: [] };
const person = [{ classId: 0, label: 'person', score: 0.8, box: [0, 0, 10, 10] }] as Detection[];

/** A repeatable uniform source (mulberry32), so the weighted draw is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('the sampler keeps at most count frames, spread over the duration, favours motion and detections, and copies what it keeps', () => {
  const count = 30;
  const sampler = new CalibrationSampler({ count, durationMs: 600_000, random: seeded(7) });
  // Ten minutes at 5 fps; motion with people in one second of every ten (10 % of the frames).
  const offered: Frame[] = [];
  for (let i = 0; i < 3000; i++) {
    const f = frameAt(i, 1_000_000 + i * 200);
    offered.push(f);
    const busy = Math.floor(i / 5) % 10 === 0;
    sampler.offer(f, busy ? moving : still, busy ? person : null);
  }
  const kept = sampler.frames();
  assert.equal(kept.length, count);
  assert.ok(sampler.bytes <= (count + 1) * W * H * 4, `bytes held ${sampler.bytes}`);
  assert.deepEqual(kept.map((k) => k.frame.ts), [...kept.map((k) => k.frame.ts)].sort((a, b) => a - b), 'in frame order');
  const busyShare = kept.filter((k) => k.motion > 0 && (k.detections ?? 0) > 0).length / kept.length;
  // 10 % of the frames, but a busy frame is the candidate of every window it falls in and weighs 5 to a still frame's 1.
  assert.ok(busyShare >= 0.5, `share of kept frames with motion and people ${busyShare.toFixed(2)}`);
  assert.ok(busyShare < 1, 'still stretches keep some frames too');
  const start = 1_000_000;
  const quarters = [0, 1, 2, 3].map((q) => kept.filter((k) => Math.floor((k.frame.ts - start) / 150_000) === q).length);
  assert.ok(quarters.every((n) => n > 0), `frames in each quarter of the duration: ${quarters.join(', ')}`);
  // The pipeline's buffers are reused by nothing here, but the frame path's are not the sampler's to keep.
  const first = kept[0] as (typeof kept)[number];
  const source = offered[first.frame.seq] as Frame;
  assert.notEqual(first.frame.data, source.data);
  source.data.fill(255);
  assert.equal(first.frame.data[0], first.frame.seq % 256);
});

test('a sampler that sees fewer frames than count keeps one per window, not more', () => {
  const sampler = new CalibrationSampler({ count: 100, durationMs: 10_000, random: seeded(1) });
  // 10 s at 5 fps: 50 frames into 400 windows of 25 ms; each frame its own window.
  for (let i = 0; i < 50; i++) sampler.offer(frameAt(i, i * 200), still, null);
  assert.equal(sampler.frames().length, 50);
  // 10 s at 100 fps into windows of 25 ms: at most 400 candidates, at most 100 kept.
  const dense = new CalibrationSampler({ count: 100, durationMs: 10_000, random: seeded(2) });
  for (let i = 0; i < 1000; i++) dense.offer(frameAt(i, i * 10), still, null);
  assert.equal(dense.frames().length, 100);
  assert.equal(dense.seen, 1000);
});

test('calibration frames scaled for another model\'s input are refused, naming the frame and both sizes', { timeout: 120_000 }, async () => {
  const manifestPath = path.join(repoRoot, 'models', 'nanodet-m.json');
  // What a stream running a 320x320 model hands out: the plaza's 960x540 frames at 320x180.
  const small = await framesFromVideo(sharedPath('video', 'pedestrians.mp4'), { width: 320, height: 320, letterbox: true }, 30, 12);
  assert.equal(small[0]?.width, 320);
  await assert.rejects(quantizeModel({ manifestPath, modelsDir: sharedPath('models'), calibration: small.slice(0, 9), heldOut: small.slice(9) }),
    /calibration frame 0 \(pedestrians\.mp4 #0\) is 320x180, but this model takes a 960x540 camera frame scaled to 416x234/);
});
