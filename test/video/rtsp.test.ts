import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sharedPath, waitFor } from '../helpers/shared.js';
import { startRtspServer } from '../helpers/rtsp-server.js';
import { capturedLogger, startStream, streamConfig, takeFrames } from './fixtures.js';

void test('RTSP: frames arrive, the server dies, the stream backs off, and resumes when it returns', { timeout: 60_000 }, async (t) => {
  const clip = sharedPath('video', 'pedestrians.mp4');
  let server = await startRtspServer(clip);
  t.after(() => server.kill());
  const { log, lines } = capturedLogger('debug');
  const uri = server.url.replace('rtsp://', 'rtsp://viewer:top-secret@');
  const s = await startStream(t, streamConfig('rtsp', uri, { fps: 10, rtsp_latency_ms: 50, stall_timeout_ms: 4000 }), {
    log, analysis: { width: 416, height: 416, resize: 'fit', format: 'BGRx' },
  });
  const [f] = await takeFrames(s, 3);
  assert.ok(f);
  assert.deepEqual([f.width, f.height, f.sourceWidth, f.sourceHeight], [416, 234, 960, 540]);
  assert.equal(s.status().state, 'playing');

  await server.kill();
  await waitFor('backoff after the server died', () => (s.status().state === 'backoff' ? true : undefined), 15_000);
  assert.ok(s.status().lastError);

  server = await startRtspServer(clip, { port: server.port });
  const pulled = s.status().framesPulled;
  await waitFor('frames again', () => (s.status().state === 'playing' && s.status().framesPulled > pulled ? true : undefined), 20_000);
  assert.ok(s.status().restarts >= 1);
  assert.ok(await s.next());
  assert.ok(lines.length > 5);
  assert.ok(lines.every((l) => !l.includes('top-secret') && !l.includes('viewer:')), 'credentials never logged');
});
