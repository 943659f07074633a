import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capturedLogger, startStream, streamConfig, takeFrames } from './fixtures.js';
import { makeClip } from '../helpers/media.js';
import { startRtspServer } from '../helpers/rtsp-server.js';
import { tempDir } from '../helpers/shared.js';

void test('an H.265 file is found to be H.265 and decodes', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const clip = await makeClip(dir, { codec: 'h265', frames: 60, width: 320, height: 240, source: { pattern: 'ball' } });
  const { log, lines } = capturedLogger('info');
  const s = await startStream(t, streamConfig('hevc', `file://${clip}`, { fps: 30, realtime: false, loop: true }), { log });
  const [f] = await takeFrames(s, 2);
  assert.ok(f);
  assert.deepEqual([f.width, f.height, f.sourceWidth, f.sourceHeight], [320, 240, 320, 240]);
  const st = s.status();
  assert.equal(st.codec, 'h265');
  assert.equal(st.decoder, 'avdec_h265');
  assert.equal(st.lastError, null, 'trying H.264 first is not reported as a failure');
  assert.ok(lines.some((l) => l.includes('trying H265')));
});

void test('an H.265 RTSP camera is found to be H.265 and decodes', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const clip = await makeClip(dir, { codec: 'h265', frames: 300, width: 320, height: 240, source: { pattern: 'ball' } });
  const server = await startRtspServer(clip, { codec: 'h265' });
  t.after(() => server.kill());
  const { log } = capturedLogger('info');
  const s = await startStream(t, streamConfig('hevc-cam', server.url, { fps: 10, rtsp_latency_ms: 50 }), { log });
  const [f] = await takeFrames(s, 2);
  assert.ok(f);
  assert.deepEqual([f.sourceWidth, f.sourceHeight], [320, 240]);
  assert.equal(s.status().codec, 'h265');
});
