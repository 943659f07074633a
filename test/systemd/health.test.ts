import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { createLogger, silentLogger } from '../../daemon/log.js';
import { createHealthCheck, type HealthInput } from '../../daemon/systemd/health.js';
import { SdNotifier } from '../../daemon/systemd/notify.js';
import type { StreamState } from '../../daemon/video/frame.js';
import { spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { startStream, streamConfig } from '../video/fixtures.js';
import { field, notifyListener, startPausableCamera } from './helpers.js';

type StreamIn = HealthInput['streams'][number];

const LIMITS = [
  { id: 'a', stall_timeout_ms: 10_000, restart_max_ms: 60_000 },
  { id: 'b', stall_timeout_ms: 10_000, restart_max_ms: 60_000 },
];
const WINDOW = 15_000; // 1.5 × stall_timeout_ms

/** A health check over a status the test edits, on a clock the test moves. */
function harness(): { check: ReturnType<typeof createHealthCheck>; streams: StreamIn[]; clock: { t: number }; input: { uplink: HealthInput['uplink'] } } {
  const clock = { t: 1_700_000_000_000 };
  const streams: StreamIn[] = [];
  const input: { uplink: HealthInput['uplink'] } = { uplink: { connected: true, outboxDepth: 42 } };
  const check = createHealthCheck(() => ({ streams, uplink: input.uplink }), { streams: LIMITS, now: () => clock.t });
  return { check, streams, clock, input };
}

const stream = (id: string, state: StreamState, lastFrameAt?: number, restarts = 0): StreamIn =>
  (lastFrameAt === undefined ? { id, state, restarts } : { id, state, restarts, lastFrameAt });

void test('health: frames younger than the window on any stream keep the daemon healthy', () => {
  const { check, streams, clock, input } = harness();
  streams.push(stream('a', 'playing', clock.t - 100), stream('b', 'playing', clock.t - 200));
  assert.deepEqual(check(), { healthy: true, status: '2/2 streams playing, uplink connected, 42 events queued' });

  // One stalls beyond the window: the other still works, so the daemon is healthy, and says so.
  streams[0] = stream('a', 'playing', clock.t - WINDOW - 1);
  const one = check();
  assert.equal(one.healthy, true);
  assert.equal(one.status, '1/2 streams playing, 1 stalled (a: no frame for 15 s), uplink connected, 42 events queued');

  // Both: unhealthy. Exactly at the window is still within it.
  streams[1] = stream('b', 'playing', clock.t - WINDOW);
  assert.equal(check().healthy, true);
  clock.t += 1;
  const both = check();
  assert.equal(both.healthy, false);
  assert.match(both.status, /^unhealthy: 0\/2 streams playing, 2 stalled \(a: no frame for 15 s; b: no frame for 15 s\)/);

  input.uplink = { connected: false, outboxDepth: 1 };
  streams[0] = stream('a', 'playing', clock.t);
  assert.equal(check().status, '1/2 streams playing, 1 stalled (b: no frame for 15 s), uplink disconnected, 1 event queued');
  input.uplink = null;
  assert.equal(check().status, '1/2 streams playing, 1 stalled (b: no frame for 15 s)');
});

void test('health: a stream in backoff is the supervisor working, unless it stays there past the longest delay', () => {
  const { check, streams, clock } = harness();
  streams.push(stream('a', 'backoff', clock.t - 600_000, 7));
  let h = check();
  assert.equal(h.healthy, true, 'a long-dead camera being retried is not a reason to restart the daemon');
  assert.equal(h.status, '0/1 streams playing, 1 retrying, uplink connected, 42 events queued');
  clock.t += 60_000 + WINDOW;
  assert.equal(check().healthy, true);
  clock.t += 1;
  h = check();
  assert.equal(h.healthy, false, 'the same backoff, longer than restart_max_ms + the window: the retry never came');
  assert.match(h.status, /a: in backoff for 75 s/);
  // The next attempt (restarts + 1) is a new state: healthy again.
  streams[0] = stream('a', 'starting', clock.t - 600_000, 8);
  assert.equal(check().healthy, true);
});

void test('health: a start is given one window per attempt, counted from when it was first seen', () => {
  const { check, streams, clock } = harness();
  streams.push(stream('a', 'starting', undefined, 0));
  assert.equal(check().healthy, true);
  assert.match(check().status, /^0\/1 streams playing, 1 starting,/);
  clock.t += WINDOW + 1;
  const h = check();
  assert.equal(h.healthy, false, 'the supervisor fails a start after stall_timeout_ms; this one was left hanging');
  assert.match(h.status, /a: starting for 15 s/);
  streams[0] = stream('a', 'backoff', undefined, 0);
  assert.equal(check().healthy, true);
  streams[0] = stream('a', 'starting', undefined, 1);
  assert.equal(check().healthy, true, 'a new attempt');
  clock.t += WINDOW;
  assert.equal(check().healthy, true);
});

void test('health: with nothing to watch (ended, disabled, stopped, or no streams) the daemon is healthy', () => {
  const { check, streams, clock } = harness();
  assert.equal(check().healthy, true);
  assert.equal(check().status, '0/0 streams playing, uplink connected, 42 events queued');
  streams.push(stream('a', 'ended', clock.t - 3_600_000), stream('b', 'disabled'));
  assert.equal(check().healthy, true);
  streams.push(stream('c', 'playing', clock.t - 3_600_000));
  // 'c' is not in the limits given: the default 15 s stall timeout applies.
  assert.equal(check().healthy, false);
});

void test('a real stall the supervisor does not handle withholds watchdog pings until frames return', { timeout: 60_000 }, async (t) => {
  // The camera is real and really stalls (SIGSTOP: its TCP connection stays open, nothing arrives).
  // What is simulated is a broken supervisor: the stream's timers never fire, so its own stall
  // detection never restarts it — the failure the watchdog exists for.
  const camera = await startPausableCamera(t, sharedPath('video', 'pedestrians.mp4'));
  const cfg = streamConfig('gate', camera.url, { fps: 10, rtsp_latency_ms: 50, stall_timeout_ms: 1000 });
  const deadTimers = { now: Date.now, setTimeout: (): unknown => ({}), clearTimeout: (): void => undefined };
  const video = await startStream(t, cfg, { log: silentLogger(), timers: deadTimers, analysis: { width: 160, height: 160, resize: 'fit', format: 'BGRx' } });
  await waitFor('frames', () => (video.status().state === 'playing' && video.status().framesPulled > 3 ? true : undefined), 20_000);

  const listener = await notifyListener(t);
  const notifier = new SdNotifier({ log: createLogger('silent'), env: { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '1000000' } });
  t.after(() => notifier.close());
  let checks = 0;
  const health = createHealthCheck(() => ({ streams: [video.status()], uplink: null }), { streams: [cfg] });
  const counted = (): ReturnType<typeof health> => {
    checks++;
    return health();
  };
  notifier.ready(health().status);
  notifier.startWatchdog(counted);
  await waitFor('pings while frames flow', () => (listener.with('WATCHDOG', '1').length >= 2 ? true : undefined));

  camera.pause();
  const unhealthy = await waitFor('unhealthy status', () => listener.received.find((d) => field(d, 'STATUS')?.startsWith('unhealthy')), 10_000);
  const from = listener.received.indexOf(unhealthy);
  const checksThen = checks;
  await waitFor('three more health checks', () => (checks >= checksThen + 3 ? true : undefined));
  assert.equal(listener.with('WATCHDOG', undefined, from).length, 0, 'no ping while every stream is stalled');
  assert.equal(video.status().state, 'playing', 'the stall is real: the stream still claims to play');
  assert.match(field(unhealthy, 'STATUS') ?? '', /gate: no frame for \d+ s/);

  const pulled = video.status().framesPulled;
  camera.resume();
  await waitFor('frames again', () => (video.status().framesPulled > pulled ? true : undefined), 15_000);
  await waitFor('pings again', () => listener.with('WATCHDOG', '1', from)[0], 5_000);
});

void test('vigild: a camera that hangs is restarted by the video supervisor and the watchdog keeps being fed', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-stall-');
  const camera = await startPausableCamera(t, sharedPath('video', 'pedestrians.mp4'));
  const listener = await notifyListener(t);
  const config = await writeConfig(dir, {
    device: { id: 'pole-1', site: 'depot' },
    storage: { dir: path.join(dir, 'state') },
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    streams: [{ id: 'gate', uri: camera.url, fps: 5, rtsp_latency_ms: 50, stall_timeout_ms: 2000, restart_min_ms: 200, restart_max_ms: 1000 }],
  });
  const vigild = spawnDaemon(t, ['--config', config], { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '2000000' });
  await vigild.waitForLine('stream playing', (l) => l.msg === 'stream playing', 30_000);
  await waitFor('pings while frames flow', () => (listener.with('WATCHDOG', '1').length >= 2 ? true : undefined), 10_000);

  camera.pause();
  const pausedAt = performance.now();
  const from = vigild.lines.length;
  // Two supervisor restarts: the stall itself, then a start that never gets an answer.
  await waitFor('two supervised failures', () =>
    (vigild.lines.slice(from).filter((l) => l.msg === 'stream failed; retrying').length >= 2 ? true : undefined), 30_000);
  const pings = listener.with('WATCHDOG', '1');
  const during = pings.filter((p) => p.at >= pausedAt);
  const times = [pausedAt, ...during.map((p) => p.at), performance.now()];
  const gaps = times.slice(1).map((x, i) => x - (times[i] ?? 0));
  t.diagnostic(`pings during the stall: ${during.length}; largest gap ${Math.max(...gaps).toFixed(0)} ms`);
  assert.ok(during.length >= 3, `pings during the stall: ${during.length}`);
  assert.ok(Math.max(...gaps) < 2000, `a gap of ${Math.max(...gaps).toFixed(0)} ms would have let systemd restart vigild`);
  const statuses = listener.with('STATUS').map((d) => field(d, 'STATUS') ?? '');
  assert.ok(statuses.some((s) => /retrying|starting/.test(s)), statuses.join(' | '));
  assert.ok(!statuses.some((s) => s.startsWith('unhealthy')), statuses.join(' | '));

  camera.resume();
  const exit = await vigild.stop('SIGTERM');
  assert.equal(exit.code, 0, vigild.stderr());
  assert.equal(listener.with('STOPPING', '1').length, 1);
});
