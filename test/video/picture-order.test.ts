import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { ALL_FORMATS, EncodedPacketSink, FilePathSource, Input } from 'mediabunny';
import { writeClip } from '../../daemon/evidence/clip-writer.js';
import { silentLogger } from '../../daemon/log.js';
import type { AccessUnit, VideoCodec } from '../../daemon/video/access-unit.js';
import { AccessUnitTap } from '../../daemon/video/access-unit-tap.js';
import { createPipeline, isAppSink } from '../../daemon/video/gst.js';
import { PictureOrder } from '../../daemon/video/poc.js';
import { sharedPath, tempDir } from '../helpers/shared.js';
import { startStream, streamConfig } from './fixtures.js';

/**
 * Picture order counts read by video/poc.ts against what the MP4 itself says (mediabunny reads each
 * sample's presentation time from ctts), and clips of B-frame streams that GStreamer plays in order.
 */

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Every access unit of a file, through the stream's own tap (AccessUnitTap) on a parser branch like the stream's. */
async function tapped(file: string, codec: VideoCodec): Promise<AccessUnit[]> {
  const caps = codec === 'h264' ? 'h264parse ! video/x-h264,stream-format=avc,alignment=au' : 'h265parse ! video/x-h265,stream-format=hvc1,alignment=au';
  const pipeline = createPipeline(`filesrc location="${file}" ! parsebin ! ${caps} ! appsink name=au sync=false`);
  const sink = pipeline.findChild('au');
  if (!isAppSink(sink)) throw new Error('no appsink');
  const tap = new AccessUnitTap('cam', false, silentLogger());
  const units: AccessUnit[] = [];
  tap.subscribe((au) => units.push(au));
  // As the stream does: the branch is pulled once the pipeline plays (a pull before returns its end).
  pipeline.play();
  tap.attach(sink);
  await tap.drained(60_000);
  tap.detach();
  pipeline.stop();
  return units;
}

/** Each sample's sync flag and presentation time (s), in decode order, as mediabunny reads the MP4. */
async function samples(file: string): Promise<{ key: boolean; ts: number }[]> {
  const input = new Input({ source: new FilePathSource(file), formats: ALL_FORMATS });
  const track = await input.getPrimaryVideoTrack();
  assert.ok(track, `${file} has a video track`);
  const out: { key: boolean; ts: number }[] = [];
  for await (const p of new EncodedPacketSink(track).packets(undefined, undefined, { metadataOnly: true })) out.push({ key: p.type === 'key', ts: p.timestamp });
  return out;
}

/** Within each GOP, each unit's rank when sorted by `by` (ties would be a failure of the reader). */
function ranksPerGop(keys: readonly boolean[], by: readonly number[]): number[] {
  const out: number[] = [];
  for (let s = 0; s < keys.length;) {
    let e = s + 1;
    while (e < keys.length && !keys[e]) e++;
    const idx = Array.from({ length: e - s }, (_, i) => s + i).sort((a, b) => by[a]! - by[b]!);
    idx.forEach((u, r) => { out[u] = r; });
    s = e;
  }
  return out;
}

const outOfOrder = (ranks: readonly number[], keys: readonly boolean[]): number => {
  let n = 0;
  let start = 0;
  ranks.forEach((r, i) => {
    if (keys[i]) start = i;
    if (r !== i - start) n++;
  });
  return n;
};

async function assertOrderMatches(t: { diagnostic(s: string): void }, file: string, codec: VideoCodec): Promise<AccessUnit[]> {
  const [units, truth] = await Promise.all([tapped(file, codec), samples(file)]);
  assert.equal(units.length, truth.length, 'one access unit per sample');
  const keys = truth.map((s) => s.key);
  assert.deepEqual(units.map((u) => u.key), keys, 'keys on the sync samples');
  const pocs = units.map((u, i) => {
    assert.notEqual(u.poc, undefined, `access unit ${i} has a POC`);
    return u.poc!;
  });
  const expected = ranksPerGop(keys, truth.map((s) => s.ts));
  const got = ranksPerGop(keys, pocs);
  const moved = outOfOrder(expected, keys);
  t.diagnostic(`${path.basename(file)}: ${units.length} access units, ${keys.filter(Boolean).length} GOPs, ${moved} shown out of decode order`);
  assert.ok(moved > 0, 'the stream has B-frames (else this test proves nothing)');
  assert.deepEqual(got, expected, 'presentation order from the POC is the file\'s');
  return units;
}

/** Presentation times (ns) of the pictures GStreamer's decoder puts out, in output order. */
async function decodedPts(file: string, codec: VideoCodec): Promise<number[]> {
  const out = await run('gst-launch-1.0', ['-v', 'filesrc', `location=${file}`, '!', 'qtdemux', '!', `${codec}parse`, '!', `avdec_${codec}`, '!', 'fakesink', 'silent=false', 'sync=false']);
  const pts: number[] = [];
  for (const m of out.matchAll(/chain.*?pts: (\d+):(\d\d):(\d\d)\.(\d{9})/g)) {
    pts.push(((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1e9 + Number(m[4]));
  }
  return pts;
}

void test('H.264 with B-frames (one-by-one-person-detection.mp4): the POC orders each GOP as the file\'s ctts does', { timeout: 60_000 }, async (t) => {
  await assertOrderMatches(t, sharedPath('video', 'one-by-one-person-detection.mp4'), 'h264');
});

for (const openGop of [false, true]) {
  const what = openGop ? 'open GOPs (CRA keys with leading pictures)' : 'IDR keys';
  void test(`H.265 with B-frames, ${what}, and a POC that wraps (x265enc, 8-bit POC lsb, 300-frame GOPs): the POC orders each GOP as the file's ctts does`, { timeout: 60_000 }, async (t) => {
    const dir = await tempDir(t);
    const file = path.join(dir, 'x265-b.mp4');
    await run('gst-launch-1.0', ['-q', 'videotestsrc', 'num-buffers=400', 'pattern=ball', '!', 'video/x-raw,width=160,height=96,framerate=25/1', '!',
      'x265enc', 'speed-preset=ultrafast', 'key-int-max=300', `option-string=bframes=3:b-adapt=0:log2-max-poc-lsb=8:open-gop=${openGop ? 1 : 0}:scenecut=0`, '!',
      'h265parse', '!', 'mp4mux', '!', 'filesink', `location=${file}`]);
    const units = await assertOrderMatches(t, file, 'h265');
    assert.ok(Math.max(...units.map((u) => u.poc!)) > 256, 'the POC passed a wrap of its 8-bit lsb');
  });
}

void test('a running stream (VideoStream) hands its listeners access units with their POC', { timeout: 60_000 }, async (t) => {
  const file = sharedPath('video', 'one-by-one-person-detection.mp4');
  const s = await startStream(t, streamConfig('poc', `file://${file}`, { fps: 120, realtime: false, loop: false }),
    { log: silentLogger(), accessUnits: true, analysis: { width: 96, height: 96, resize: 'fit', format: 'BGRx' } });
  const aus: AccessUnit[] = [];
  s.onAccessUnit((au) => aus.push(au));
  // The file is paced by its consumer: frames are taken until 3 GOPs of access units came.
  while (aus.filter((a) => a.key).length < 4) {
    if ((await s.next()) === null) throw new Error(`the stream ended after ${aus.length} access units`);
  }
  const first = aus.findIndex((a) => a.key);
  const gop = aus.slice(first, aus.findIndex((a, i) => i > first && a.key));
  assert.ok(gop.every((a) => a.poc !== undefined), 'every access unit from the first key has a POC');
  assert.ok(gop.some((a, i) => i > 0 && a.poc! < gop[i - 1]!.poc!), 'the GOP shows pictures out of decode order');
});

void test('a clip of a B-frame stream, cut inside a GOP, decodes with GStreamer to strictly rising presentation times, one per frame', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const units = await tapped(sharedPath('video', 'one-by-one-person-detection.mp4'), 'h264');
  const keyAt = units.findIndex((u, i) => i > 0 && u.key);
  // From the second key, about three GOPs, ending mid-GOP (the live tail of a clip).
  let end = keyAt + 1;
  for (let keys = 0; end < units.length && keys < 3; end++) if (units[end]!.key) keys++;
  end = Math.min(units.length, end + 7);
  const clip = units.slice(keyAt, end);
  assert.ok(!units[end]?.key, 'the clip ends inside a GOP');
  const w = await writeClip(dir, 'clip.mp4', clip);
  assert.equal(w.frames, clip.length);
  const pts = await decodedPts(w.path, 'h264');
  assert.equal(pts.length, clip.length, 'every frame decodes');
  const stepNs = 1e9 / clip[0]!.track.fps;
  for (let i = 1; i < pts.length; i++) assert.ok(pts[i]! > pts[i - 1]!, `frame ${i} at ${pts[i]} ns after ${pts[i - 1]} ns`);
  // Evenly spaced at the frame rate: no jitter (within mediabunny's rounding to its timescale).
  const worst = Math.max(...pts.slice(1).map((p, i) => Math.abs(p - pts[i]! - stepNs)));
  t.diagnostic(`${clip.length} frames, ${clip[0]!.track.fps} fps, worst step error ${(worst / 1e6).toFixed(3)} ms`);
  assert.ok(worst < 1e6, `worst step error ${worst} ns`);
});

void test('per access unit, reading the POC costs a few microseconds', { timeout: 60_000 }, async (t) => {
  const units = await tapped(sharedPath('video', 'one-by-one-person-detection.mp4'), 'h264');
  const order = new PictureOrder(units[0]!.track);
  let sum = 0;
  for (const u of units) sum += order.of(u.data) ?? 0; // warm-up
  const rounds = 5;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (const u of units) sum += order.of(u.data) ?? 0;
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / (rounds * units.length);
  t.diagnostic(`POC read: ${us.toFixed(2)} µs per access unit (${units.length} units × ${rounds}; checksum ${sum})`);
  assert.equal(order.problem, null);
  assert.ok(us < 50, `${us} µs per access unit`);
});

void test('bad input gives no POC and a reason naming what is wrong, never a throw', { timeout: 60_000 }, async () => {
  const units = await tapped(sharedPath('video', 'one-by-one-person-detection.mp4'), 'h264');
  const track = units[0]!.track;
  const next = units.findIndex((u, i) => i > 0 && u.key);
  const shortRecord = new PictureOrder({ codec: 'h264', description: track.description.subarray(0, 10) });
  assert.match(shortRecord.problem ?? '', /h264 parameter sets unreadable: the avcC record ends early \(10 bytes\)/);
  // The second key carries no parameter sets in band (the first does, and would be read).
  assert.equal(shortRecord.of(units[next]!.data), undefined);
  // A record with its SPS and no PPS.
  const spsEnd = 8 + track.description.readUInt16BE(6);
  const noPps = new PictureOrder({ codec: 'h264', description: Buffer.concat([track.description.subarray(0, spsEnd), Buffer.from([0])]) });
  assert.equal(noPps.problem, null);
  assert.equal(noPps.of(units[next]!.data), undefined);
  assert.match(noPps.problem ?? '', /H\.264 slice refers to PPS 0, which was never sent/);

  const overlong = new PictureOrder(track);
  const lying = Buffer.from(units[0]!.data);
  lying.writeUInt32BE(lying.length, 0);
  assert.equal(overlong.of(lying), undefined);
  assert.match(overlong.problem ?? '', /NAL unit length \(\d+\) runs past the access unit/);

  // The key's slice cut to its first two bytes (its header needs more).
  const cut = new PictureOrder(track);
  const data = units[0]!.data;
  let o = 0;
  while ((data[o + 4]! & 0x1f) !== 5) o += 4 + data.readUInt32BE(o);
  const stub = Buffer.from([0, 0, 0, 2, data[o + 4]!, data[o + 5]!]);
  assert.equal(cut.of(stub), undefined);
  assert.match(cut.problem ?? '', /h264 NAL unit type 5 ends inside its header/);
  // Later access units are read again from the next key on.
  assert.equal(cut.of(units[1]!.data), undefined, 'no POC before a key after a bad unit');
  assert.equal(cut.of(units[next]!.data), 0);
});
