import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../daemon/log.js';
import type { AnalysisSize } from '../../daemon/video/pipeline.js';
import { sharedPath } from '../helpers/shared.js';
import { startStream, streamConfig, takeFrames } from './fixtures.js';

const pedestrians = `file://${sharedPath('video', 'pedestrians.mp4')}`;
const detector416: AnalysisSize = { width: 416, height: 416, resize: 'fit', format: 'BGRx' };
/** pedestrians.mp4 has 419 frames. */
const CLIP_FRAMES = 419;

void test('test:// source gives frames of the fitted size at about the requested rate', { timeout: 20_000 }, async (t) => {
  const s = await startStream(t, streamConfig('cam', 'test://ball?width=640&height=480&fps=30', { fps: 10 }), { log: silentLogger() });
  const [first] = await takeFrames(s, 1);
  assert.ok(first);
  assert.equal(first.format, 'BGRx');
  assert.equal(first.width, 320);
  assert.equal(first.height, 240);
  assert.equal(first.data.length, 320 * 240 * 4);
  assert.equal(first.sourceWidth, 640);
  assert.equal(first.sourceHeight, 480);
  assert.equal(first.streamId, 'cam');
  const start = Date.now();
  const frames = await takeFrames(s, 15);
  const fps = (frames.length * 1000) / (Date.now() - start);
  t.diagnostic(`test:// at fps=10 delivered ${fps.toFixed(1)} frames/s`);
  assert.ok(fps > 7 && fps < 13, `expected about 10 frames/s, got ${fps.toFixed(1)}`);
  assert.ok(frames.every((f, i) => i === 0 || f.seq > (frames[i - 1]?.seq ?? -1)), 'seq increases');
  const st = s.status();
  assert.equal(st.state, 'playing');
  assert.equal(st.decoder, null);
  assert.equal(st.restarts, 0);
});

void test('pedestrians.mp4 decodes to 416x234 BGRx with the 960x540 source size', { timeout: 20_000 }, async (t) => {
  const s = await startStream(t, streamConfig('plaza', pedestrians, { fps: 120, realtime: false, loop: true }),
    { log: silentLogger(), analysis: detector416 });
  const [f] = await takeFrames(s, 1);
  assert.ok(f);
  assert.deepEqual([f.format, f.width, f.height, f.sourceWidth, f.sourceHeight], ['BGRx', 416, 234, 960, 540]);
  assert.equal(f.data.length, 416 * 234 * 4);
  // Throughput with a consumer that keeps up: what one stream can hand to analysis on this machine.
  const start = Date.now();
  const frames = await takeFrames(s, 300);
  const fps = (frames.length * 1000) / (Date.now() - start);
  t.diagnostic(`pedestrians.mp4 realtime=false into Node: ${fps.toFixed(0)} frames/s (BGRx 416x234)`);
  const st = s.status();
  assert.equal(st.decoder, 'avdec_h264');
  assert.equal(st.codec, 'h264');
  assert.equal(st.sourceWidth, 960);
});

void test('a realtime file is paced by the clock at the requested rate', { timeout: 20_000 }, async (t) => {
  const s = await startStream(t, streamConfig('paced', pedestrians, { fps: 5, realtime: true }),
    { log: silentLogger(), analysis: detector416 });
  await takeFrames(s, 1);
  const start = Date.now();
  const frames = await takeFrames(s, 8);
  const fps = (frames.length * 1000) / (Date.now() - start);
  assert.ok(fps > 3.5 && fps < 6.5, `expected about 5 frames/s, got ${fps.toFixed(1)}`);
});

void test('a looping file plays past its end without restarting the pipeline', { timeout: 30_000 }, async (t) => {
  const s = await startStream(t, streamConfig('loop', pedestrians, { fps: 120, realtime: false, loop: true }),
    { log: silentLogger(), analysis: { width: 160, height: 160, resize: 'fit', format: 'BGRx' } });
  // A file read as fast as possible is paced by its consumer, so the test consumes.
  await takeFrames(s, CLIP_FRAMES + 60);
  const st = s.status();
  assert.equal(st.state, 'playing');
  assert.equal(st.restarts, 0, 'looped by seeking, not by restarting');
  assert.equal(st.lastError, null);
  assert.ok(await s.next(), 'still delivering frames');
});

void test('a file read as fast as possible waits for a slow consumer: every frame, in order, none dropped', { timeout: 30_000 }, async (t) => {
  const s = await startStream(t, streamConfig('paced', pedestrians, { fps: 120, realtime: false }),
    { log: silentLogger(), analysis: { width: 160, height: 160, resize: 'fit', format: 'BGRx' } });
  const seqs: number[] = [];
  for (let i = 0; i < 12; i++) {
    const f = await s.next();
    assert.ok(f);
    seqs.push(f.seq);
    // The consumer's work, far slower than decoding (~2 ms a frame here): without back-pressure
    // the pipeline would run ahead and the slot would replace frames meanwhile.
    await new Promise((r) => setTimeout(r, 40));
  }
  assert.deepEqual(seqs, seqs.map((_, i) => (seqs[0] ?? 0) + i), 'consecutive frames');
  assert.equal(s.status().framesDropped, 0);
  assert.ok(s.status().framesPulled <= seqs.length + 1, `pulled ${s.status().framesPulled} for ${seqs.length} taken`);
});

void test('a file without loop ends with state "ended" and the consumer sees the end', { timeout: 30_000 }, async (t) => {
  const s = await startStream(t, streamConfig('once', pedestrians, { fps: 120, realtime: false, loop: false }),
    { log: silentLogger(), analysis: { width: 160, height: 160, resize: 'fit', format: 'BGRx' } });
  let n = 0;
  for await (const f of s.frames()) {
    assert.equal(f.width, 160);
    n++;
  }
  const st = s.status();
  assert.equal(st.state, 'ended');
  assert.ok(n > 0 && st.framesPulled <= CLIP_FRAMES, `pulled ${st.framesPulled}`);
  assert.equal(st.restarts, 0);
  assert.equal(await s.next(), null);
});

void test('a disabled stream starts nothing', async (t) => {
  const s = await startStream(t, streamConfig('off', 'test://smpte', { enabled: false }), { log: silentLogger() });
  assert.equal(s.status().state, 'disabled');
});
