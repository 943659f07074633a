import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import jpeg from 'jpeg-js';
import { evidenceSchema } from '../../daemon/config/schema.js';
import { openJpegEncoder } from '../../daemon/evidence/choose-encoder.js';
import { EvidenceService } from '../../daemon/evidence/evidence-service.js';
import { chooseJpegElement, GstJpegEncoder, jpegPipelineDescription } from '../../daemon/evidence/gst-jpeg-encoder.js';
import { JsJpegEncoder } from '../../daemon/evidence/js-jpeg-encoder.js';
import { JpegEncoderUnavailable, type RawImage } from '../../daemon/evidence/jpeg-encoder.js';
import { silentLogger } from '../../daemon/log.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { staticRegistry } from '../../daemon/video/decoders.js';
import { createPipeline, nativeCallsPending } from '../../daemon/video/gst.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { newEvent } from '../store/store-fixtures.js';

/** Left half one colour, right half another, as packed 32-bit pixels of `format`. */
function twoTone(width: number, height: number, format: RawImage['format'], left: number[], right: number[]): RawImage {
  const order = format.startsWith('BGR') ? [2, 1, 0] : [0, 1, 2];
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const rgb = x < width / 2 ? left : right;
      const o = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) data[o + order[c]!] = rgb[c]!;
      data[o + 3] = 255;
    }
  }
  return { data, width, height, format };
}

const rgbAt = (img: { data: Uint8Array; width: number }, x: number, y: number): number[] => {
  const o = (y * img.width + x) * 4;
  return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!];
};
const near = (got: number[], want: number[], tolerance = 6): boolean => got.every((v, i) => Math.abs(v - want[i]!) <= tolerance);

test('the encoder element: nvjpegenc on a Jetson, jpegenc elsewhere, none without either', () => {
  assert.equal(chooseJpegElement(staticRegistry(['nvjpegenc', 'nvvidconv', 'jpegenc', 'videoconvert'])), 'nvjpegenc');
  assert.equal(chooseJpegElement(staticRegistry(['nvjpegenc', 'jpegenc', 'videoconvert'])), 'jpegenc', 'nvjpegenc needs nvvidconv');
  assert.equal(chooseJpegElement(staticRegistry(['videoconvert'])), null);
  const image = { width: 416, height: 234, format: 'BGRx' as const };
  assert.match(jpegPipelineDescription('nvjpegenc', image, 80), /format=BGRx,width=416,height=234.* ! nvvidconv ! video\/x-raw\(memory:NVMM\),format=I420 ! nvjpegenc quality=80 ! appsink name=sink/);
  assert.match(jpegPipelineDescription('jpegenc', image, 70), /videoconvert ! video\/x-raw,format=I420,colorimetry=1:4:0:0 ! jpegenc quality=70 ! appsink/);
});

for (const [name, make] of [['jpegenc', () => new GstJpegEncoder({ element: 'jpegenc' })], ['jpeg-js', () => new JsJpegEncoder()]] as const) {
  void test(`${name}: each JPEG is its own image, at its size and colours, for every 32-bit format`, async (t) => {
    const encoder = make();
    t.after(() => encoder.close());
    assert.equal(encoder.name, name);
    const images = [
      twoTone(416, 234, 'BGRx', [200, 40, 30], [20, 60, 220]),
      twoTone(320, 320, 'RGBA', [10, 180, 40], [240, 240, 240]),
      twoTone(416, 234, 'RGBx', [250, 200, 0], [0, 0, 0]),
      twoTone(160, 90, 'BGRA', [90, 90, 90], [255, 0, 255]),
    ];
    // All at once, geometries interleaved: every promise must get the JPEG of its own image.
    const jpegs = await Promise.all([...images, ...images].map((img) => encoder.encode(img, 85)));
    jpegs.forEach((j, i) => {
      const img = images[i % images.length]!;
      const got = jpeg.decode(j, { useTArray: true });
      assert.deepEqual([got.width, got.height], [img.width, img.height], `image ${i}`);
      const want = rgbAt({ data: twoToneRgb(img), width: img.width }, 5, 5);
      const wantRight = rgbAt({ data: twoToneRgb(img), width: img.width }, img.width - 5, img.height - 5);
      assert.ok(near(rgbAt(got, 5, 5), want), `image ${i} left ${rgbAt(got, 5, 5).join(',')} want ${want.join(',')}`);
      assert.ok(near(rgbAt(got, img.width - 5, img.height - 5), wantRight), `image ${i} right ${rgbAt(got, img.width - 5, img.height - 5).join(',')}`);
    });

    // A buffer that does not match its geometry is refused before it reaches the encoder.
    await assert.rejects(encoder.encode({ ...images[0]!, data: new Uint8Array(100) }, 80), /snapshot of 416x234 BGRx needs 389376 bytes, got 100/);
    assert.ok((await encoder.encode(images[0]!, 80)).length > 1000, 'the encoder works after a bad image');
  });
}

/** The two-tone image as RGBA, whatever its format (what a decoded JPEG should show). */
function twoToneRgb(img: RawImage): Uint8Array {
  const order = img.format.startsWith('BGR') ? [2, 1, 0] : [0, 1, 2];
  const out = new Uint8Array(img.data.length);
  for (let o = 0; o < img.data.length; o += 4) {
    for (let c = 0; c < 3; c++) out[o + c] = img.data[o + order[c]!]!;
  }
  return out;
}

test('an encoder that gives no JPEG fails within its timeout and releases its pool thread', async (t) => {
  // A real pipeline whose appsink never gets a buffer: the valve drops everything.
  const stuck = new GstJpegEncoder({
    element: 'jpegenc', timeoutMs: 300,
    factory: (d) => createPipeline(d.replace(/ ! jpegenc quality=\d+ ! /, ' ! valve drop=true ! ')),
  });
  t.after(() => stuck.close());
  const before = nativeCallsPending();
  const img = twoTone(64, 64, 'BGRx', [1, 2, 3], [4, 5, 6]);
  await assert.rejects(stuck.encode(img, 80), /jpegenc gave no JPEG within 300 ms/);
  await waitFor('the pull released', () => (nativeCallsPending() === before ? true : undefined));
  // The next one gets a new pipeline (which is stuck too, here), not the old one's queue.
  await assert.rejects(stuck.encode(img, 80), /within 300 ms/);
  await stuck.close();
  await assert.rejects(stuck.encode(img, 80), /closed/);
});

test('a GStreamer encoder that cannot build its pipeline hands over to jpeg-js, and the snapshot is still stored', async (t) => {
  const dir = await tempDir(t);
  const store = EventStore.open(dir);
  t.after(() => store.close());
  const broken = new GstJpegEncoder({ element: 'nosuchjpegenc' });
  await assert.rejects(broken.encode(twoTone(8, 8, 'BGRx', [0, 0, 0], [9, 9, 9]), 80),
    (err) => err instanceof JpegEncoderUnavailable && /cannot build the JPEG pipeline ".*nosuchjpegenc quality=80/.test(err.message));

  const evidence = new EvidenceService({
    config: evidenceSchema.parse({ publish: false }), storageDir: dir, device: { id: 'd', site: 's' }, store, log: silentLogger(), encoder: broken,
  });
  t.after(() => evidence.stop());
  const event = store.recordEvent(newEvent(1));
  const img = twoTone(64, 48, 'BGRx', [30, 60, 90], [30, 60, 90]);
  evidence.capture(event.id, { ...img, data: Buffer.from(img.data), streamId: 'cam', seq: 1, ts: Date.now(), sourceWidth: 64, sourceHeight: 48 }, []);
  await evidence.idle();
  assert.deepEqual([evidence.stats.written, evidence.stats.failed, evidence.stats.encoder], [1, 0, 'jpeg-js']);
  const snap = store.snapshotOf(event.id);
  assert.ok(snap);
  assert.ok(near(rgbAt(jpeg.decode(readFileSync(snap.path), { useTArray: true }), 32, 24), [30, 60, 90]));
});

test('evidence.encoder: auto finds GStreamer\'s jpegenc here; js is jpeg-js; auto without GStreamer elements is jpeg-js', async () => {
  const auto = await openJpegEncoder('auto');
  const js = await openJpegEncoder('js');
  const bare = await openJpegEncoder('auto', () => Promise.resolve(staticRegistry([])));
  assert.deepEqual([auto.name, js.name, bare.name], ['jpegenc', 'jpeg-js', 'jpeg-js']);
  await Promise.all([auto.close(), js.close(), bare.close()]);
  assert.throws(() => evidenceSchema.parse({ encoder: 'gpu' }), /encoder/);
});
