import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { ALL_FORMATS, EncodedPacketSink, FilePathSource, Input } from 'mediabunny';
import { silentLogger } from '../../daemon/log.js';
import type { AccessUnit } from '../../daemon/video/access-unit.js';
import { makeClip } from '../helpers/media.js';
import { startRtspServer } from '../helpers/rtsp-server.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { startStream, streamConfig } from './fixtures.js';

/** What the MP4 itself says, read by mediabunny (not GStreamer): each sample's sync flag and the track's decoder config. */
interface Truth { keys: boolean[]; codec: string; description: Buffer; width: number; height: number }

async function mp4Truth(file: string): Promise<Truth> {
  const input = new Input({ source: new FilePathSource(file), formats: ALL_FORMATS });
  const track = await input.getPrimaryVideoTrack();
  assert.ok(track, `${file} has a video track`);
  const config = await track.getDecoderConfig();
  assert.ok(config?.description, 'the MP4 track has an avcC');
  const keys: boolean[] = [];
  for await (const p of new EncodedPacketSink(track).packets(undefined, undefined, { metadataOnly: true })) keys.push(p.type === 'key');
  const d: unknown = config.description;
  const bytes = ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : d instanceof ArrayBuffer ? new Uint8Array(d) : null;
  assert.ok(bytes, 'the decoder config has its record as bytes');
  const description = Buffer.from(bytes);
  return { keys, codec: config.codec, description, width: track.codedWidth, height: track.codedHeight };
}

/** Runs the file once, to its end, collecting every access unit. */
async function collect(t: Parameters<typeof startStream>[0], file: string): Promise<AccessUnit[]> {
  const s = await startStream(t, streamConfig('au', `file://${file}`, { fps: 120, realtime: false, loop: false }),
    { log: silentLogger(), accessUnits: true, analysis: { width: 160, height: 160, resize: 'fit', format: 'BGRx' } });
  const aus: AccessUnit[] = [];
  s.onAccessUnit((au) => aus.push(au));
  // The file is paced by its consumer: take every frame until it ends.
  while ((await s.next()) !== null) { /* consume */ }
  assert.equal(s.status().state, 'ended');
  await waitFor('the access-unit branch to drain', () => (s.accessUnitStats()?.pulled === aus.length && aus.length > 0 ? true : undefined));
  return aus;
}

for (const name of ['pedestrians.mp4', 'car-detection.mp4']) {
  void test(`${name}: one access unit per sample, key exactly on the MP4's sync samples, track from the caps`, { timeout: 60_000 }, async (t) => {
    const file = sharedPath('video', name);
    const truth = await mp4Truth(file);
    const aus = await collect(t, file);
    assert.equal(aus.length, truth.keys.length, 'every sample arrives, none dropped');
    const keyAt = (list: readonly boolean[]): number[] => list.flatMap((k, i) => (k ? [i] : []));
    t.diagnostic(`${name}: ${aus.length} access units, keys at ${keyAt(aus.map((a) => a.key)).join(',')}`);
    assert.deepEqual(keyAt(aus.map((a) => a.key)), keyAt(truth.keys));
    assert.ok(aus[0]?.key, 'starts at a key frame');

    const track = aus[0].track;
    assert.equal(track.codec, 'h264');
    assert.equal(track.codecString, truth.codec);
    assert.ok(track.description.equals(truth.description), 'codec_data is the MP4\'s avcC');
    assert.deepEqual([track.width, track.height], [truth.width, truth.height]);
    assert.ok(aus.every((a) => a.track === track && a.epoch === aus[0]!.epoch), 'one track, one epoch');

    // MP4 form: the length prefixes add up to the access unit.
    for (const au of aus.slice(0, 30)) {
      let o = 0;
      while (o < au.data.length) o += 4 + au.data.readUInt32BE(o);
      assert.equal(o, au.data.length);
    }
    // Files: pts from the frame count over the caps' rate.
    assert.ok(track.fps > 0);
    assert.ok(Math.abs(aus[30]!.ptsMs - (30 * 1000) / track.fps) < 1e-6);
    assert.ok(aus.every((a, i) => i === 0 || a.ptsMs > aus[i - 1]!.ptsMs), 'pts increases');
  });
}

void test('H.265: hvc1 access units, IRAP keys where the MP4 has its sync samples, the RFC 6381 string of the hvcC', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const clip = await makeClip(dir, { codec: 'h265', frames: 45, fps: 15, width: 320, height: 240 });
  const truth = await mp4Truth(clip);
  const aus = await collect(t, clip);
  assert.equal(aus.length, truth.keys.length);
  assert.deepEqual(aus.map((a) => a.key), truth.keys);
  assert.deepEqual(truth.keys.flatMap((k, i) => (k ? [i] : [])), [0, 15, 30], 'the clip has a key frame every second');
  const track = aus[0]!.track;
  assert.equal(track.codec, 'h265');
  // mp4mux wrote an `hev1` sample entry (parameter sets in-band too); the branch hands out `hvc1`
  // form, and everything after the four letters is the hvcC's own: profile, compatibility, tier, level, constraints.
  assert.equal(track.codecString, `hvc1${truth.codec.slice(4)}`);
  assert.ok(track.description.equals(truth.description), 'codec_data is the MP4\'s hvcC');
  assert.deepEqual([track.width, track.height, track.fps], [320, 240, 15]);
});

void test('an RTSP camera: access units in MP4 form from a byte-stream source, keys each second, pts on the monotonic clock', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const clip = await makeClip(dir, { codec: 'h264', frames: 300, fps: 15, width: 320, height: 240 });
  const server = await startRtspServer(clip, { codec: 'h264' });
  t.after(() => server.kill());
  const s = await startStream(t, streamConfig('cam', server.url, { fps: 5, rtsp_latency_ms: 50 }), { log: silentLogger(), accessUnits: true });
  const aus: AccessUnit[] = [];
  s.onAccessUnit((au) => aus.push(au));
  const consume = (async () => { while ((await s.next()) !== null && aus.length < 40) { /* the analysis keeps pulling */ } })();
  await waitFor('40 access units', () => (aus.length >= 40 ? true : undefined), 30_000);
  await consume;
  const first = aus.findIndex((a) => a.key);
  assert.ok(first >= 0 && first < 16, 'a key frame within the first second');
  const keys = aus.flatMap((a, i) => (a.key ? [i] : []));
  assert.ok(keys.slice(1).every((k, i) => k - keys[i]! === 15), `key frames every 15: ${keys.join(',')}`);
  assert.equal(aus[0]!.track.codecString.slice(0, 5), 'avc1.');
  assert.deepEqual([aus[0]!.track.width, aus[0]!.track.height], [320, 240]);
  assert.ok(aus.every((a, i) => i === 0 || (a.ptsMs >= aus[i - 1]!.ptsMs && a.wallMs >= aus[i - 1]!.wallMs)), 'time goes forward');
  for (const au of aus.slice(0, 10)) {
    let o = 0;
    while (o < au.data.length) o += 4 + au.data.readUInt32BE(o);
    assert.equal(o, au.data.length, 'length-prefixed, not start codes');
  }
});

void test('a listener added to a running stream restarts it once with the branch; new epoch after a loop', { timeout: 60_000 }, async (t) => {
  const s = await startStream(t, streamConfig('late', `file://${sharedPath('video', 'pedestrians.mp4')}`, { fps: 120, realtime: false, loop: true }),
    { log: silentLogger(), analysis: { width: 160, height: 160, resize: 'fit', format: 'BGRx' } });
  assert.ok(await s.next());
  assert.equal(s.accessUnitStats(), null, 'no branch until asked');
  const aus: AccessUnit[] = [];
  const off = s.onAccessUnit((au) => aus.push(au));
  // Consume through the end of the file and its loop.
  await waitFor('access units from two epochs', async () => {
    await s.next();
    return new Set(aus.map((a) => a.epoch)).size >= 2 ? true : undefined;
  }, 40_000, 0);
  const epochs = [...new Set(aus.map((a) => a.epoch))];
  const second = aus.find((a) => a.epoch === epochs[1]);
  assert.ok(second?.key, 'the loop starts its epoch at a key frame');
  assert.equal(second.ptsMs, 0);
  const st = s.status().accessUnits;
  assert.ok(st && st.listeners === 1 && st.pulled >= aus.length && st.keyframes >= 2, JSON.stringify(st));
  off();
  assert.equal(s.status().accessUnits?.listeners, 0);
  const n = aus.length;
  await s.next();
  await s.next();
  assert.equal(aus.length, n, 'unsubscribed: no more access units');
  assert.equal(s.status().restarts, 0, 'adding the branch is no failure');
});

void test('test sources have no access units; the full-resolution frame has the source size', { timeout: 20_000 }, async (t) => {
  const s = await startStream(t, streamConfig('cam', 'test://smpte?width=640&height=360&fps=15'),
    { log: silentLogger(), accessUnits: true });
  assert.ok(await s.next());
  const full = await waitFor('a full frame', () => s.latestFullFrame() ?? undefined);
  assert.deepEqual([full.width, full.height, full.format, full.streamId], [640, 360, 'I420', 'cam']);
  assert.equal(full.data.length, 640 * 360 * 3 / 2);
  assert.equal(s.accessUnitStats()?.pulled, 0);
});

void test('a camera changing resolution mid-stream: a new epoch with the new track, starting at its key frame; the full frame follows', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  // Two Annex-B streams back to back, the way a camera switches: the second starts with a new SPS and an IDR.
  const parts: Buffer[] = [];
  for (const [w, h] of [[320, 240], [640, 480]] as const) {
    const file = path.join(dir, `${w}.h264`);
    await promisify(execFile)('gst-launch-1.0', ['-q', 'videotestsrc', 'num-buffers=30', 'pattern=ball', '!',
      `video/x-raw,width=${w},height=${h},framerate=15/1`, '!', 'x264enc', 'speed-preset=ultrafast', 'tune=zerolatency', 'key-int-max=15', '!',
      'h264parse', '!', 'video/x-h264,stream-format=byte-stream', '!', 'filesink', `location=${file}`], { timeout: 60_000 });
    parts.push(await readFile(file));
  }
  const clip = path.join(dir, 'switch.h264');
  await writeFile(clip, Buffer.concat(parts));
  const s = await startStream(t, streamConfig('switch', `file://${clip}`, { fps: 120, realtime: false, loop: false }),
    { log: silentLogger(), accessUnits: true, analysis: { width: 160, height: 160, resize: 'fit', format: 'BGRx' } });
  const aus: AccessUnit[] = [];
  s.onAccessUnit((au) => aus.push(au));
  const fullSizes = new Set<string>();
  for (;;) {
    const f = await s.next();
    if (f === null) break;
    const full = s.latestFullFrame();
    if (full) fullSizes.add(`${full.width}x${full.height}`);
  }
  await waitFor('the branch drained', () => (s.accessUnitStats()?.pulled === aus.length && aus.length >= 60 ? true : undefined));
  assert.equal(aus.length, 60);
  const epochs = [...new Set(aus.map((a) => a.epoch))];
  assert.equal(epochs.length, 2, 'one epoch per resolution');
  const second = aus.findIndex((a) => a.epoch === epochs[1]);
  assert.equal(second, 30, 'the new epoch starts with the second stream');
  assert.ok(aus[second]!.key, 'at its IDR');
  assert.deepEqual([aus[0]!.track.width, aus[0]!.track.height, aus[second]!.track.width, aus[second]!.track.height], [320, 240, 640, 480]);
  assert.ok(!aus[0]!.track.description.equals(aus[second]!.track.description), 'new parameter sets');
  assert.ok(aus.slice(second).every((a) => a.track === aus[second]!.track));
  assert.deepEqual([...fullSizes], ['320x240', '640x480'], 'the full-resolution frame follows the camera');
});

/** Centroid of the bright pixels: the ball of videotestsrc's `ball` pattern. */
function ballAt(pixel: (x: number, y: number) => number, width: number, height: number): [number, number] {
  let sx = 0;
  let sy = 0;
  let n = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (pixel(x, y) > 128) {
        sx += x;
        sy += y;
        n++;
      }
    }
  }
  assert.ok(n > 0, 'the ball is in the picture');
  return [sx / n, sy / n];
}

void test('the full-resolution frame read during an analysis frame\'s inference is that same frame (teed after the rate limit)', { timeout: 30_000 }, async (t) => {
  const s = await startStream(t, streamConfig('ball', 'test://ball?width=640&height=480&fps=30', { fps: 5 }),
    { log: silentLogger(), analysis: { width: 320, height: 320, resize: 'fit', format: 'BGRx' } });
  await s.next();
  const offsets: number[] = [];
  const moves: number[] = [];
  let last: [number, number] | null = null;
  for (let i = 0; i < 8; i++) {
    const f = await s.next();
    // An inference's time between the frame and the event that reads the full frame (not a wait
    // for a condition): 3 camera frames are decoded meanwhile, and none of them may be read.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const full = s.latestFullFrame();
    assert.ok(f && full);
    const a = ballAt((x, y) => f.data[(y * f.width + x) * 4 + 1]!, f.width, f.height);
    const b = ballAt((x, y) => full.data[y * full.width + x]!, full.width, full.height);
    offsets.push(Math.hypot(a[0] * 2 - b[0], a[1] * 2 - b[1]));
    if (last) moves.push(Math.hypot(b[0] - last[0], b[1] - last[1]));
    last = b;
  }
  t.diagnostic(`ball: full vs analysed frame ${offsets.map((o) => o.toFixed(1)).join(' ')} px; between analysed frames ${moves.map((o) => o.toFixed(0)).join(' ')} px`);
  assert.ok(moves.filter((m) => m > 10).length >= 5, 'the ball moves between analysed frames, so a newer frame would show');
  assert.ok(offsets.filter((o) => o < 4).length >= 7, 'the same frame (one late read allowed)');
});
