import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeDetections, cutByRegionEdge } from '../../daemon/analytics/regions/region-merge.js';
import { planRegions, type MovingBox } from '../../daemon/analytics/regions/region-plan.js';
import { cropI420ToBgrx } from '../../daemon/analytics/regions/i420-crop.js';
import { i420Layout, type FullFrame } from '../../daemon/video/full-frame.js';
import type { Detection } from '../../daemon/inference/types.js';

const box = (x: number, y: number, width: number, height: number, cells = 4): MovingBox => ({ x, y, width, height, cells });
const opts = { modelSize: 416, maxRegions: 4 };

test('a small moving box gets one region of the model size, centred on it', () => {
  const { regions } = planRegions([box(900, 500, 20, 40)], 1920, 1080, opts);
  assert.deepEqual(regions, [{ x: 702, y: 312, width: 416, height: 416, cells: 4 }]);
});

test('a region near an edge is shifted inside the frame, not cut', () => {
  const { regions } = planRegions([box(1900, 1060, 20, 20), box(0, 0, 10, 10)], 1920, 1080, opts);
  assert.deepEqual(regions.map((r) => [r.x, r.y, r.width, r.height]).sort(), [[0, 0, 416, 416], [1504, 664, 416, 416]]);
});

test('a box larger than the model input gets a region 1.2 times its size, clipped to a shorter frame', () => {
  const { regions } = planRegions([box(600, 100, 500, 900)], 1920, 1080, opts);
  const [r] = regions;
  assert.ok(r);
  // 900 × 1.2 = 1080, a multiple of 4: the whole height, and as wide, centred on the box.
  assert.deepEqual([r.x, r.y, r.width, r.height], [310, 0, 1080, 1080]);
});

test('overlapping regions merge into one around both boxes; apart they stay two', () => {
  const near = planRegions([box(900, 500, 20, 40, 3), box(1000, 520, 20, 40, 5)], 1920, 1080, opts);
  assert.equal(near.regions.length, 1);
  assert.equal(near.regions[0]?.cells, 8);
  const r = near.regions[0];
  assert.ok(r);
  // Both boxes inside the merged region, which is still the model's size.
  assert.ok(r.x <= 900 && r.x + r.width >= 1020 && r.y <= 500 && r.y + r.height >= 560);
  assert.equal(r.width, 416);
  const apart = planRegions([box(100, 100, 20, 40), box(1500, 800, 20, 40)], 1920, 1080, opts);
  assert.equal(apart.regions.length, 2);
});

test('regions that would only merge into one too coarse to gain over the whole frame stay apart', () => {
  // A row of people across the frame: neighbours' regions overlap and merge, but the whole row
  // would be a region of 1560 px, which the model would see at nearly the whole frame's scale.
  const row = [300, 600, 900, 1200, 1500].map((x) => box(x, 300, 100, 300));
  const plan = planRegions(row, 1920, 1080, opts);
  assert.equal(plan.lowGain, 0);
  assert.ok(plan.regions.length >= 2, `${plan.regions.length} regions`);
  for (const r of plan.regions) assert.ok(Math.max(r.width, r.height) <= 1920 / 1.5, `a region of ${r.width}x${r.height}`);
  const covered = (b: MovingBox): boolean => plan.regions.some((r) => r.x <= b.x && r.y <= b.y && r.x + r.width >= b.x + b.width && r.y + r.height >= b.y + b.height);
  assert.ok(row.every(covered), 'every moving box inside a region');
});

test('the cap keeps the regions with the most motion and counts the rest', () => {
  const boxes = [box(50, 50, 10, 10, 2), box(700, 50, 10, 10, 9), box(1400, 50, 10, 10, 5), box(700, 800, 10, 10, 1)];
  const plan = planRegions(boxes, 1920, 1080, { modelSize: 416, maxRegions: 2 });
  assert.deepEqual(plan.regions.map((r) => r.cells), [9, 5]);
  assert.equal(plan.capped, 2);
});

test('no regions where the frame is hardly larger than the model input', () => {
  const plan = planRegions([box(100, 100, 20, 40)], 480, 270, opts);
  assert.deepEqual(plan.regions, []);
  assert.equal(plan.lowGain, 1);
  assert.deepEqual(planRegions([], 1920, 1080, opts).regions, []);
  assert.deepEqual(planRegions([box(5000, 5000, 10, 10)], 1920, 1080, opts).regions, [], 'a box outside the frame');
});

test('a region detection cut by an inner region edge is recognised; at the frame edge it is not', () => {
  const region = { x: 400, y: 300, width: 416, height: 416 };
  assert.equal(cutByRegionEdge([401, 400, 430, 460], region, 1920, 1080), true);
  assert.equal(cutByRegionEdge([450, 400, 480, 460], region, 1920, 1080), false);
  const corner = { x: 0, y: 0, width: 416, height: 416 };
  assert.equal(cutByRegionEdge([0, 0, 30, 60], corner, 1920, 1080), false);
});

test('region detections win over the loose whole-frame box of the same object; others are kept', () => {
  const d = (box: [number, number, number, number], score: number, label = 'person'): Detection => ({ classId: label === 'person' ? 0 : 2, label, score, box });
  const whole = [d([100, 100, 130, 170], 0.4), d([1000, 200, 1400, 500], 0.9, 'car')];
  const regional = [d([104, 98, 128, 166], 0.8), d([600, 600, 620, 640], 0.6), d([601, 601, 621, 641], 0.5)];
  const merged = mergeDetections(whole, regional, { iou: 0.5, sameObjectIou: 0.3, maxDetections: 100 });
  assert.deepEqual(merged.map((m) => [m.label, m.score]), [['car', 0.9], ['person', 0.8], ['person', 0.6]]);
});

test('the crop turns I420 into BGRx at 1:1 and shrinks a larger region', () => {
  const W = 64;
  const H = 32;
  const l = i420Layout(W, H);
  const data = Buffer.alloc(l.size);
  // Luma: 16 on the left half, 235 on the right; neutral chroma: black and white.
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[y * l.yStride + x] = x < 32 ? 16 : 235;
  data.fill(128, l.uOffset);
  const frame = { streamId: 's', ts: 0, width: W, height: H, format: 'I420' as const, data };
  const out = Buffer.alloc(8 * 4 * 4);
  cropI420ToBgrx(frame, { x: 28, y: 4, width: 8, height: 4 }, 8, 4, out);
  assert.deepEqual([...out.subarray(0, 4)], [0, 0, 0, 255]);
  assert.deepEqual([...out.subarray(7 * 4, 8 * 4)], [255, 255, 255, 255]);
  const half = Buffer.alloc(16 * 4);
  cropI420ToBgrx(frame, { x: 0, y: 0, width: 64, height: 4 }, 16, 1, half);
  assert.equal(half[7 * 4], 0);
  assert.equal(half[8 * 4], 255);
  assert.throws(() => cropI420ToBgrx(frame, { x: 60, y: 0, width: 8, height: 4 }, 8, 4, out), /not inside the 64x32 frame of stream s/);
});

test('the crop converts colour as GStreamer does by default: BT.709 above 576 rows (an 800×600 camera), BT.601 at 576', () => {
  // A green of Y 134, U 63, V 51: videoconvert gives BGRx 0,188,0 at 800×600 and 800×720 (BT.709), 6,225,14 at 800×576 (BT.601).
  const frameOf = (height: number): FullFrame => {
    const layout = i420Layout(800, height);
    const data = Buffer.alloc(layout.size, 134);
    data.fill(63, layout.uOffset, layout.vOffset);
    data.fill(51, layout.vOffset);
    return { streamId: 's', ts: 0, width: 800, height, format: 'I420', data };
  };
  const pixel = (height: number): number[] => {
    const out = Buffer.alloc(4);
    cropI420ToBgrx(frameOf(height), { x: 10, y: 10, width: 1, height: 1 }, 1, 1, out);
    return [...out.subarray(0, 3)];
  };
  const near = (got: number[], want: number[]): boolean => got.every((v, i) => Math.abs(v - want[i]!) <= 4);
  assert.ok(near(pixel(600), [0, 188, 0]), `800x600: ${pixel(600).join(',')}`);
  assert.ok(near(pixel(720), [0, 188, 0]), `800x720: ${pixel(720).join(',')}`);
  assert.ok(near(pixel(576), [6, 225, 14]), `800x576: ${pixel(576).join(',')}`);
});
