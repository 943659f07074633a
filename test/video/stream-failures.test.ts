import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../daemon/log.js';
import { staticRegistry } from '../../daemon/video/decoders.js';
import type { GstAppSink, GstPipeline } from '../../daemon/video/gst.js';
import { freePort } from '../helpers/rtsp-server.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { capturedLogger, startStream, streamConfig, takeFrames } from './fixtures.js';

void test('a missing file and an unreachable camera retry with backoff while another stream keeps delivering', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const port = await freePort();
  const { log, lines } = capturedLogger('info');
  const good = await startStream(t, streamConfig('good', 'test://smpte?width=320&height=240', { fps: 15 }), { log });
  const missing = await startStream(t, streamConfig('missing', `file://${path.join(dir, 'nope.mp4')}`), { log });
  const camera = await startStream(t, streamConfig('camera', `rtsp://admin:hunter2@127.0.0.1:${port}/live`), { log });

  await waitFor('both failing streams to retry twice', () =>
    (missing.status().restarts >= 2 && camera.status().restarts >= 2 ? true : undefined), 15_000);
  const m = missing.status();
  assert.ok(['backoff', 'starting'].includes(m.state), m.state);
  assert.match(m.lastError ?? '', /file not found: .*nope\.mp4/);
  const c = camera.status();
  assert.ok(['backoff', 'starting'].includes(c.state), c.state);
  assert.match(c.lastError ?? '', /^rtsp source: Could not open/);
  assert.equal(c.uri, `rtsp://***@127.0.0.1:${port}/live`);

  const before = good.status().framesPulled;
  await takeFrames(good, 5);
  assert.equal(good.status().state, 'playing');
  assert.ok(good.status().framesPulled > before);
  assert.equal(good.status().restarts, 0);

  // One warning per failed attempt, each naming the (redacted) URI.
  const failures = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['msg'] === 'stream failed; retrying');
  const cameraFailures = failures.filter((r) => r['stream'] === 'camera');
  assert.ok(cameraFailures.length >= 2);
  assert.ok(cameraFailures.every((r) => r['uri'] === `rtsp://***@127.0.0.1:${port}/live` && typeof r['retryInMs'] === 'number'));
  assert.ok(lines.every((l) => !l.includes('hunter2') && !l.includes('admin:')), 'credentials never logged');

  const stopStart = Date.now();
  await Promise.all([good.stop(), missing.stop(), camera.stop()]);
  assert.ok(Date.now() - stopStart < 1000, 'stop is prompt');
  assert.equal(camera.status().state, 'stopped');
});

void test('an unknown decoder is a clear error, not a crash', { timeout: 10_000 }, async (t) => {
  const s = await startStream(t, streamConfig('nodec', 'file:///etc/hostname'), { log: silentLogger(), registry: staticRegistry([]) });
  await waitFor('the failure', () => s.status().lastError ?? undefined);
  assert.match(s.status().lastError ?? '', /no H264 decoder/);
  assert.equal(s.status().state, 'backoff');
});

/** A pipeline that starts but never produces a frame: what a frozen camera looks like. */
function frozenPipelines(): { factory: (d: string) => GstPipeline; created: number; stopped: number } {
  const stats = { created: 0, stopped: 0 };
  const sink: GstAppSink = { pull: () => undefined };
  const factory = (): GstPipeline => {
    stats.created++;
    return {
      play: () => undefined, pause: () => undefined, stop: () => { stats.stopped++; },
      seek: () => true, queryPosition: () => -1, queryDuration: () => -1,
      findChild: (name) => (name === 'sink' ? sink : {}), pollBus: () => undefined,
    };
  };
  return { factory, get created() { return stats.created; }, get stopped() { return stats.stopped; } };
}

void test('a stream with no frames for stall_timeout_ms is restarted', { timeout: 10_000 }, async (t) => {
  const frozen = frozenPipelines();
  const s = await startStream(t, streamConfig('frozen', 'test://ball', { stall_timeout_ms: 500 }), {
    log: silentLogger(), createPipeline: frozen.factory, random: () => 0,
  });
  await waitFor('two stall restarts', () => (frozen.created >= 3 ? true : undefined), 8_000);
  assert.match(s.status().lastError ?? '', /no frame for \d+ ms/);
  assert.ok(frozen.stopped >= 2, 'each stalled pipeline was stopped');
  await s.stop();
  assert.equal(frozen.stopped, frozen.created, 'every pipeline stopped');
});
