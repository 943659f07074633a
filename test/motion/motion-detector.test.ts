import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MotionDetector } from '../../daemon/motion/motion-detector.js';
import type { Frame } from '../../daemon/video/frame.js';

const W = 320;
const H = 180;

/** A grey frame at analysis size W×H for a 1280×720 camera, with an optional white block. */
function frame(format: Frame['format'], block?: { x: number; y: number; size: number }, seq = 0): Frame {
  const data = Buffer.alloc(W * H * 4, 60);
  if (block) {
    for (let y = block.y; y < block.y + block.size; y++) {
      data.fill(250, (y * W + block.x) * 4, (y * W + block.x + block.size) * 4);
    }
  }
  return { streamId: 's', seq, ts: seq, format, width: W, height: H, data, sourceWidth: 1280, sourceHeight: 720 };
}

void test('a still scene is not motion', () => {
  const d = new MotionDetector({ threshold: 25, minArea: 0.002 });
  for (let i = 0; i < 5; i++) {
    const r = d.detect(frame('BGRx', { x: 100, y: 50, size: 30 }, i));
    assert.equal(r.motion, false);
    assert.equal(r.score, 0);
    assert.deepEqual(r.regions, []);
  }
});

void test('a moving block is motion, with a region around it in source pixels', () => {
  for (const format of ['BGRx', 'RGBA'] as const) {
    const d = new MotionDetector({ threshold: 25, minArea: 0.002 });
    d.detect(frame(format, { x: 40, y: 40, size: 30 }));
    const r = d.detect(frame(format, { x: 200, y: 100, size: 30 }, 1));
    assert.equal(r.motion, true);
    assert.ok(r.score > 0.002 && r.score < 0.1, `score ${r.score}`);
    // Both where the block went and where it left change; the new place is 800-920 × 400-520 at source scale.
    const target = r.regions.find((g) => g.x < 920 && g.x + g.width > 800 && g.y < 520 && g.y + g.height > 400);
    assert.ok(target, `a region at the new place: ${JSON.stringify(r.regions)}`);
    assert.ok(Math.abs(target.x - 800) <= 24 && Math.abs(target.y - 400) <= 24, JSON.stringify(target));
    assert.ok(Math.abs(target.width - 120) <= 40 && Math.abs(target.height - 120) <= 40, JSON.stringify(target));
    const vacated = r.regions.find((g) => g.x < 280 && g.x + g.width > 160 && g.y < 280 && g.y + g.height > 160);
    assert.ok(vacated, 'the place it left also changed');
  }
});

void test('the background absorbs a change that stays', () => {
  const d = new MotionDetector({ threshold: 25, minArea: 0.002, learningRate: 0.2 });
  d.detect(frame('BGRx'));
  const moved = frame('BGRx', { x: 100, y: 60, size: 40 });
  assert.equal(d.detect(moved).motion, true);
  let r = d.detect(moved);
  for (let i = 0; i < 30 && r.motion; i++) r = d.detect(moved);
  assert.equal(r.motion, false);
});

void test('a change smaller than min_area is not motion', () => {
  const d = new MotionDetector({ threshold: 25, minArea: 0.05 });
  d.detect(frame('BGRx'));
  const r = d.detect(frame('BGRx', { x: 100, y: 60, size: 20 }));
  assert.equal(r.motion, false);
  assert.ok(r.score > 0);
});

void test('steady-state detection reuses its result', () => {
  const d = MotionDetector.fromConfig({ threshold: 25, min_area: 0.002 });
  d.detect(frame('BGRx'));
  const a = d.detect(frame('BGRx', { x: 10, y: 10, size: 30 }));
  const firstRegion = a.regions[0];
  const b = d.detect(frame('BGRx', { x: 200, y: 100, size: 30 }));
  assert.equal(a, b);
  assert.equal(b.regions[0], firstRegion, 'region objects come from a pool');
});
