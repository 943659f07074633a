import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import jpeg from 'jpeg-js';
import { evidenceSchema, ruleSchema } from '../../daemon/config/schema.js';
import { EvidenceService } from '../../daemon/evidence/evidence-service.js';
import {
  EVENT_COLOUR, LINE_COLOUR, OTHER_COLOUR, renderFullSnapshot, ruleGeometry, snapshotSize, ZONE_COLOUR, type SnapshotOverlay,
} from '../../daemon/evidence/full-snapshot.js';
import { GstJpegEncoder } from '../../daemon/evidence/gst-jpeg-encoder.js';
import { I420Canvas, rgbToYuv, matrixFor } from '../../daemon/evidence/i420-draw.js';
import { encodeJpegJs } from '../../daemon/evidence/js-jpeg-encoder.js';
import { silentLogger } from '../../daemon/log.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { i420Layout, type FullFrame } from '../../daemon/video/full-frame.js';
import type { Frame } from '../../daemon/video/frame.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { newEvent } from '../store/store-fixtures.js';
import { startStream, streamConfig } from '../video/fixtures.js';

type Rgb = readonly [number, number, number];
const decode = (buf: Buffer): { width: number; height: number; data: Uint8Array } => jpeg.decode(buf, { useTArray: true });
const pixel = (img: { data: Uint8Array; width: number }, x: number, y: number): number[] => {
  const o = (y * img.width + x) * 4;
  return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!];
};
const near = (got: number[], want: Rgb, tolerance: number): boolean => got.every((v, i) => Math.abs(v - want[i]!) <= tolerance);

/** The newest full frame of a videotestsrc of solid blue at `width`×`height`, through a real pipeline. */
async function blueFrame(t: Parameters<typeof startStream>[0], width: number, height: number): Promise<{ frame: FullFrame; read: () => FullFrame | null }> {
  const s = await startStream(t, streamConfig('cam', `test://blue?width=${width}&height=${height}&fps=10`), { log: silentLogger() });
  assert.ok(await s.next());
  return { frame: await waitFor('a full frame', () => s.latestFullFrame() ?? undefined), read: () => s.latestFullFrame() };
}

void test('I420 canvas: a box outline lands in all three planes, inside untouched; the 5x7 font draws', () => {
  const w = 64;
  const h = 48;
  const L = i420Layout(w, h);
  const data = new Uint8Array(L.size).fill(128);
  const c = new I420Canvas(data, w, h);
  c.strokeRect(10, 10, 41, 31, [255, 0, 0], 2);
  const [Y, U, V] = rgbToYuv([255, 0, 0], matrixFor(h));
  assert.deepEqual([data[10 * L.yStride + 20], data[L.uOffset + 5 * L.uvStride + 10], data[L.vOffset + 5 * L.uvStride + 10]], [Y, U, V]);
  assert.equal(data[20 * L.yStride + 20], 128, 'inside untouched');
  assert.equal(data[9 * L.yStride + 20], 128, 'outside untouched');
  const before = data.filter((v) => v === 255).length;
  const width = c.text(0, 36, '#7', [255, 255, 255], 1);
  assert.equal(width, 11);
  assert.ok(data.filter((v) => v === 235).length > 10 && before === 0, 'white text drawn');
});

void test('sizes and geometry: max_width keeps the aspect in even pixels; norm and px rules in source pixels', () => {
  assert.deepEqual(snapshotSize(3840, 2160, 1920), { width: 1920, height: 1080 });
  assert.deepEqual(snapshotSize(1280, 720, 1920), { width: 1280, height: 720 });
  assert.deepEqual(snapshotSize(2592, 1944, 1000), { width: 1000, height: 750 });
  const zone = ruleSchema.parse({ id: 'z', stream: 's', kind: 'zone', classes: ['person'], units: 'norm', zone: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]] });
  const line = ruleSchema.parse({ id: 'l', stream: 's', kind: 'line', classes: ['car'], line: [[0, 500], [1920, 500]] });
  assert.deepEqual(ruleGeometry([zone, line], 1920, 1080), { zones: [[[192, 108], [960, 108], [960, 540]]], lines: [[[0, 500], [1920, 500]]] });
});

void test('a 1080p snapshot from the full-resolution branch: boxes, label, zone and line drawn; jpegenc at full size and scaled', { timeout: 60_000 }, async (t) => {
  const { frame, read } = await blueFrame(t, 1920, 1080);
  assert.deepEqual([frame.width, frame.height, frame.format], [1920, 1080, 'I420']);
  const overlay: SnapshotOverlay = {
    // Boxes in the pixels of a 960x540 analysis source: drawn at twice the size.
    size: { width: 960, height: 540 },
    objects: [{ box: [200, 150, 500, 400], label: 'person', trackId: 12 }, { box: [600, 100, 800, 300], label: 'dog' }],
    zones: [[[50, 450], [300, 450], [300, 520], [50, 520]]],
    lines: [[[600, 500], [900, 500]]],
  };
  const encoder = new GstJpegEncoder({ element: 'jpegenc' });
  t.after(() => encoder.close());
  const copy = (): FullFrame => ({ ...frame, data: Buffer.from(frame.data) });
  const image = renderFullSnapshot(copy(), overlay, 1920);
  const img = decode(await encoder.encode(image, 85));
  assert.deepEqual([img.width, img.height], [1920, 1080]);
  const blue: Rgb = [0, 0, 255];
  assert.ok(near(pixel(img, 100, 100), blue, 40), `background ${pixel(img, 100, 100).join(',')}`);
  // The event's box [200,150,500,400] is [400,300,1000,800] at 1080p; its outline in red.
  assert.ok(near(pixel(img, 700, 301), EVENT_COLOUR, 50), `top edge ${pixel(img, 700, 301).join(',')}`);
  assert.ok(near(pixel(img, 401, 600), EVENT_COLOUR, 50), `left edge ${pixel(img, 401, 600).join(',')}`);
  assert.ok(near(pixel(img, 700, 550), blue, 40), `inside ${pixel(img, 700, 550).join(',')}`);
  assert.ok(near(pixel(img, 1400, 201), OTHER_COLOUR, 50), `the other object's top edge ${pixel(img, 1400, 201).join(',')}`);
  assert.ok(near(pixel(img, 300, 900), ZONE_COLOUR, 60), `zone edge ${pixel(img, 300, 900).join(',')}`);
  assert.ok(near(pixel(img, 1500, 1000), LINE_COLOUR, 60), `line ${pixel(img, 1500, 1000).join(',')}`);
  // The label tag sits above the box's top-left corner in the box's colour, with dark text in it.
  const tag = [...Array(40).keys()].map((i) => pixel(img, 405 + i * 3, 285));
  assert.ok(tag.some((p) => near(p, EVENT_COLOUR, 60)) && tag.some((p) => p.every((v) => v < 80)), 'a red tag with black letters');

  const half = renderFullSnapshot(copy(), overlay, 960);
  assert.deepEqual([half.outWidth, half.outHeight], [960, 540]);
  const small = decode(await encoder.encode(half, 85));
  assert.deepEqual([small.width, small.height], [960, 540]);
  assert.ok(near(pixel(small, 350, 150), EVENT_COLOUR, 60), `scaled top edge ${pixel(small, 350, 150).join(',')}`);

  // Encode time at 1080p, drawing included, after the lane's pipeline was built above.
  const times: number[] = [];
  const draws: number[] = [];
  for (let i = 0; i < 10; i++) {
    const f = copy();
    const t0 = performance.now();
    const im = renderFullSnapshot(f, overlay, 1920);
    const t1 = performance.now();
    await encoder.encode(im, 80);
    draws.push(t1 - t0);
    times.push(performance.now() - t1);
  }
  const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
  t.diagnostic(`1080p snapshot: draw ${median(draws).toFixed(2)} ms (main thread), jpegenc ${median(times).toFixed(1)} ms median, ${Math.max(...times).toFixed(1)} ms max`);
  const reads: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const f = read();
    reads.push(performance.now() - t0);
    assert.equal(f?.data.length, i420Layout(1920, 1080).size);
  }
  t.diagnostic(`latestFullFrame() at 1080p (last-sample, one copy): ${median(reads).toFixed(2)} ms median`);
  assert.ok(median(times) < 2000);
});

void test('jpeg-js fallback takes I420 too: scaled, colours right', () => {
  const w = 64;
  const h = 48;
  const data = new Uint8Array(i420Layout(w, h).size);
  const c = new I420Canvas(data, w, h);
  c.fillRect(0, 0, w - 1, h - 1, [0, 0, 255]);
  c.fillRect(0, 0, 31, 47, [255, 32, 32]);
  const img = decode(encodeJpegJs({ data, width: w, height: h, format: 'I420', outWidth: 32, outHeight: 24 }, 90));
  assert.deepEqual([img.width, img.height], [32, 24]);
  assert.ok(near(pixel(img, 4, 12), EVENT_COLOUR, 30), `left ${pixel(img, 4, 12).join(',')}`);
  assert.ok(near(pixel(img, 28, 12), [0, 0, 255], 30), `right ${pixel(img, 28, 12).join(',')}`);
});

void test('an event snapshot uses the camera-size frame: stored at 960x540 from pedestrians.mp4, not the 416x234 analysis frame', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const store = EventStore.open(dir);
  t.after(() => store.close());
  const device = { id: 'box-1', site: 'depot' };
  const event = store.recordEvent({ ...newEvent(1), payload: { objects: [{ label: 'person', score: 0.9, box: [100, 60, 300, 300] }] } },
    alertOutbox(device, { phase: 'start' }));
  const stored: string[] = [];
  const evidence = new EvidenceService({
    config: evidenceSchema.parse({}), storageDir: dir, device, store, log: silentLogger(), onStored: (id) => stored.push(id),
  });
  evidence.start();
  t.after(() => evidence.stop());
  const s = await startStream(t, streamConfig('plaza', `file://${sharedPath('video', 'pedestrians.mp4')}`, { fps: 120, realtime: false, loop: true }),
    { log: silentLogger(), analysis: { width: 416, height: 416, resize: 'fit', format: 'BGRx' } });
  const frame: Frame | null = await s.next();
  assert.ok(frame);
  const full = s.latestFullFrame();
  assert.ok(full);
  assert.deepEqual([full.width, full.height, frame.width, frame.height], [960, 540, 416, 234], 'the camera\'s size, from the same decode');
  assert.ok(evidence.due('plaza', 'r'), 'nothing taken yet');
  const t0 = performance.now();
  evidence.capture(event.id, frame, [[100, 60, 300, 300]], 'r', { frame: full, overlay: { objects: [{ box: [100, 60, 300, 300], label: 'person', trackId: 3 }], zones: [], lines: [] } });
  const captureMs = performance.now() - t0;
  assert.ok(!evidence.due('plaza', 'r') && evidence.due('plaza', 'r2'), 'within min_interval_s of its last: no full frame is copied for it');
  t.diagnostic(`capture() with a 960x540 full frame returned in ${captureMs.toFixed(2)} ms (drawing and encoding come later)`);
  await waitFor('the snapshot stored', () => (stored.length === 1 ? true : undefined));
  const snap = store.snapshotOf(event.id);
  assert.ok(snap);
  assert.deepEqual([snap.width, snap.height], [960, 540]);
  const img = decode(readFileSync(snap.path));
  assert.deepEqual([img.width, img.height], [960, 540]);
  assert.ok(near(pixel(img, 200, 61), EVENT_COLOUR, 60), `top edge ${pixel(img, 200, 61).join(',')}`);

  // No full frame: the analysis frame, and its size is what is stored.
  const other = store.recordEvent({ ...newEvent(2), payload: { objects: [] } }, alertOutbox(device, { phase: 'start' }));
  evidence.capture(other.id, frame, [[100, 60, 300, 300]], 'r2', null);
  await waitFor('the fallback stored', () => (stored.length === 2 ? true : undefined));
  const fallback = store.snapshotOf(other.id);
  assert.deepEqual([fallback?.width, fallback?.height], [416, 234]);
});

void test('on-demand snapshots: two at once, a third is refused rather than queued with its frame', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const store = EventStore.open(dir);
  t.after(() => store.close());
  const evidence = new EvidenceService({ config: evidenceSchema.parse({}), storageDir: dir, device: { id: 'b', site: 's' }, store, log: silentLogger() });
  t.after(() => evidence.stop());
  const w = 640;
  const h = 360;
  let taken = 0;
  const take = (): { frame: FullFrame; overlay: SnapshotOverlay } => {
    taken++;
    return { frame: { streamId: 'x', ts: 1, width: w, height: h, format: 'I420', data: Buffer.alloc(i420Layout(w, h).size, 128) }, overlay: { objects: [], zones: [], lines: [] } };
  };
  const all = await Promise.allSettled([evidence.snapshot(take), evidence.snapshot(take), evidence.snapshot(take)]);
  assert.deepEqual(all.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected']);
  assert.match(String((all[2] as PromiseRejectedResult).reason), /2 snapshots are being made/);
  assert.equal(taken, 2, 'the refused one copied no frame');
  const ok = all[0] as PromiseFulfilledResult<{ jpeg: Buffer; width: number; height: number }>;
  assert.deepEqual([decode(ok.value.jpeg).width, ok.value.width, ok.value.height], [640, 640, 360]);
  assert.ok((await evidence.snapshot(take, 320)).width === 320, 'free again once they finished');
});
