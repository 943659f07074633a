import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REGION_HOLD_MS, RegionPass } from '../../daemon/analytics/regions/region-pass.js';
import { FrameSkipped } from '../../daemon/inference/scheduler.js';
import type { Detection } from '../../daemon/inference/types.js';
import type { Frame } from '../../daemon/video/frame.js';
import { i420Layout, type FullFrame } from '../../daemon/video/full-frame.js';

/** A 1080p camera's analysis frame (416×234 BGRx), dark, with white squares where `blocks` say (analysis pixels). */
function analysisFrame(seq: number, blocks: readonly [number, number][]): Frame {
  const width = 416;
  const height = 234;
  const data = Buffer.alloc(width * height * 4, 20);
  for (const [bx, by] of blocks) {
    for (let y = by; y < by + 8; y++) data.fill(255, (y * width + bx) * 4, (y * width + bx + 8) * 4);
  }
  return { streamId: 's', seq, ts: seq * 200, format: 'BGRx', width, height, data, sourceWidth: 1920, sourceHeight: 1080 };
}

const full: FullFrame = { streamId: 's', ts: 0, width: 1920, height: 1080, format: 'I420', data: Buffer.alloc(i420Layout(1920, 1080).size, 128) };
const person = (box: Detection['box'], score: number): Detection => ({ classId: 0, label: 'person', score, box });

function passWith(cropPort?: { detect(f: Frame): Promise<Detection[]> }): RegionPass {
  return new RegionPass({ fullFrame: () => full, modelWidth: 416, modelHeight: 416, maxRegions: 4, motionThreshold: 25, ...(cropPort ? { cropPort } : {}) });
}

test('a still scene plans nothing; two moving spots far apart get two crops run through the crop port at the model size', async () => {
  const crops: Frame[] = [];
  const pass = passWith({ detect: (f) => { crops.push(f); return Promise.resolve([person([100, 100, 120, 140], 0.7)]); } });
  assert.equal(pass.plan(analysisFrame(0, [])), null, 'the first frame only primes the motion grid');
  assert.equal(pass.plan(analysisFrame(1, [])), null, 'still');
  const frame = analysisFrame(2, [[20, 20], [380, 200]]);
  const job = pass.plan(frame);
  assert.ok(job);
  assert.equal(job.regions.length, 2);
  const whole = [person([1000, 500, 1100, 700], 0.9)];
  const out = await pass.detect(frame, job, { detect: () => Promise.resolve(whole) });
  assert.deepEqual(crops.map((c) => [c.width, c.height, c.sourceWidth, c.sourceHeight]), [[416, 416, 416, 416], [416, 416, 416, 416]]);
  // Each crop's person, moved by its region's offset into source pixels, beside the whole frame's.
  assert.deepEqual(out.map((d) => d.box), [whole[0]!.box, ...job.regions.map((r) => [r.x + 100, r.y + 100, r.x + 120, r.y + 140])]);
  assert.equal(pass.stats.regionsRun, 2);
  assert.equal(pass.stats.detectionsAdded, 2);
});

test('a small person found in a region keeps a region around them once they stop moving, for REGION_HOLD_MS', async () => {
  const pass = passWith({ detect: () => Promise.resolve([person([100, 100, 120, 140], 0.7)]) });
  pass.plan(analysisFrame(0, []));
  const moving = analysisFrame(1, [[20, 20]]);
  const job = pass.plan(moving);
  assert.ok(job);
  await pass.detect(moving, job, { detect: () => Promise.resolve([]) });
  const region = job.regions[0]!;
  const still = pass.plan(analysisFrame(2, []));
  assert.ok(still, 'no motion, but the person found is held');
  assert.deepEqual(still.regions.map((r) => [r.x, r.y]), [[region.x, region.y]]);
  assert.equal(pass.stats.regionsHeld, 1);
  assert.equal(pass.plan(analysisFrame(2 + REGION_HOLD_MS / 200 + 1, [])), null, 'forgotten after the hold');
});

test('the scan runs one grid tile in turn every scan period, only where the cap leaves room', () => {
  const pass = new RegionPass({ fullFrame: () => full, modelWidth: 416, modelHeight: 416, maxRegions: 1, motionThreshold: 25, scanMs: 1000 });
  const tiles: [number, number][] = [];
  for (let seq = 0; seq < 16; seq++) {
    const job = pass.plan(analysisFrame(seq, []));
    if (job) tiles.push([job.regions[0]!.x, job.regions[0]!.y]);
  }
  // 16 still frames at 200 ms: due at 0, 1000, 2000 and 3000 ms. A 1920×1080 grid of 416 tiles overlapping by 52: 6 columns.
  assert.deepEqual(tiles, [[0, 0], [301, 0], [602, 0], [902, 0]]);
  assert.equal(pass.stats.regionsScanned, 4);
  // Motion fills the one region: the scan due at 4000 ms waits for a frame with room.
  const busy = pass.plan(analysisFrame(20, [[200, 100]]));
  assert.ok(busy);
  assert.equal(busy.regions.length, 1);
  assert.equal(pass.stats.regionsScanned, 4);
  assert.deepEqual(pass.plan(analysisFrame(40, []))?.regions.map((r) => [r.x, r.y]), [[1203, 0]]);
});

test('a skipped crop ends the frame\'s regions, counted, and keeps what was found; other errors fail the frame', async () => {
  let calls = 0;
  const pass = passWith({
    detect: () => (++calls === 2 ? Promise.reject(new FrameSkipped('s', 250)) : Promise.resolve([person([10, 10, 30, 50], 0.6)])),
  });
  pass.plan(analysisFrame(0, []));
  const frame = analysisFrame(1, [[20, 20], [200, 120], [380, 200]]);
  const job = pass.plan(frame);
  assert.ok(job);
  assert.equal(job.regions.length, 3);
  const out = await pass.detect(frame, job, { detect: () => Promise.resolve([]) });
  assert.equal(out.length, 1);
  assert.equal(pass.stats.regionsRun, 1);
  assert.equal(pass.stats.regionsSkipped, 2);
  const broken = passWith({ detect: () => Promise.reject(new Error('model gone')) });
  broken.plan(analysisFrame(0, []));
  const again = broken.plan(frame);
  assert.ok(again);
  await assert.rejects(broken.detect(frame, again, { detect: () => Promise.resolve([]) }), /model gone/);
});

test('no full frame of the analysed frame\'s size: the whole frame alone, counted', () => {
  const pass = new RegionPass({ fullFrame: () => ({ ...full, width: 1280, height: 720 }), modelWidth: 416, modelHeight: 416, maxRegions: 2, motionThreshold: 25 });
  pass.plan(analysisFrame(0, []));
  assert.equal(pass.plan(analysisFrame(1, [[100, 100]])), null);
  assert.equal(pass.stats.noFullFrame, 1);
});

test('a camera that changes resolution forgets the small objects held at the old size, and a late frame of the old size holds none into the new', async () => {
  const hd: FullFrame = { streamId: 's', ts: 0, width: 1280, height: 720, format: 'I420', data: Buffer.alloc(i420Layout(1280, 720).size, 128) };
  let current = full;
  const pass = new RegionPass({
    fullFrame: () => current, modelWidth: 416, modelHeight: 416, maxRegions: 2, motionThreshold: 25,
    cropPort: { detect: () => Promise.resolve([person([100, 100, 120, 140], 0.7)]) },
  });
  const atHd = (f: Frame): Frame => ({ ...f, sourceWidth: 1280, sourceHeight: 720 });
  pass.plan(analysisFrame(0, []));
  // Inside both sizes, so only the size tells the held box is stale.
  const moving = analysisFrame(1, [[100, 60]]);
  const job = pass.plan(moving);
  assert.ok(job);
  assert.ok(job.regions[0]!.x + 140 < 1280 && job.regions[0]!.y + 140 < 720);
  current = hd;
  // The camera now sends 720p: the next frame is planned before the 1080p frame's regions are back.
  // Regions, not the job: a failing assert would print the job's megabytes of frame.
  assert.deepEqual(pass.plan(atHd(analysisFrame(2, [])))?.regions ?? [], []);
  await pass.detect(moving, job, { detect: () => Promise.resolve([]) });
  assert.deepEqual(pass.plan(atHd(analysisFrame(3, [])))?.regions ?? [], [], 'a box found in a 1080p frame is not held into 720p');
  assert.equal(pass.stats.regionsHeld, 0);
});

test('a scan tile due before the full-resolution branch has a frame waits for one rather than being counted and passed over', () => {
  let branch: FullFrame | null = null;
  const pass = new RegionPass({ fullFrame: () => branch, modelWidth: 416, modelHeight: 416, maxRegions: 1, motionThreshold: 25, scanMs: 1000 });
  for (let seq = 0; seq < 3; seq++) assert.equal(pass.plan(analysisFrame(seq, []))?.regions.length ?? 0, 0);
  assert.equal(pass.stats.regionsScanned, 0);
  branch = full;
  assert.deepEqual(pass.plan(analysisFrame(3, []))?.regions.map((r) => [r.x, r.y]), [[0, 0]], 'the first tile, not the second');
  assert.equal(pass.stats.regionsScanned, 1);
});
