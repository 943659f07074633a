import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { daemonCheck } from '../../cli/commands/doctor.js';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';
import { App } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import { createHealthCheck } from '../../daemon/systemd/health.js';
import { alertSchema, stateSchema, storageMessageSchema } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { loopExt4 } from '../store/storage-fs.js';
import { captureLogger, subscribe } from '../uplink/harness.js';
import { MODELS_DIR, manifestPath } from './daemon-harness.js';

/**
 * The field failure the issue found silent: the data partition of a running device turns
 * read-only (ext4 errors=remount-ro, forced here through the kernel's own error path). The real
 * App runs the plaza clip with a rule that fires on nearly every frame, so events keep coming
 * while it happens; every event the analysis produced must reach a real broker or be counted lost.
 */
test('storage turns read-only mid-run: every event reaches the hub or is counted, an alarm within 10 s, degraded everywhere', async (t) => {
  const fs = await loopExt4(t, 64);
  const storage = path.join(fs.dir, 'state');
  const broker = await startMosquitto(t);
  const device = { id: 'plaza-ro', site: 'station' };
  const hub = await subscribe(t, broker.url, `vigil/v1/${device.site}/${device.id}/+`);
  const cfg = validateConfig({
    device,
    storage: { dir: storage },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: MODELS_DIR,
    models: [{ name: 'nanodet-m', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    control: { enabled: true, socket: path.join(await tempDir(t), 'vigild.sock') },
    evidence: { enabled: false },
    telemetry: { prometheus: { listen: '127.0.0.1:0' } },
    streams: [{ id: 'plaza', uri: pathToFileURL(sharedPath('video', 'pedestrians.mp4')).href, model: 'nanodet-m', loop: true, realtime: true, fps: 10 }],
    rules: [{ id: 'people', stream: 'plaza', kind: 'presence', classes: ['person'], min_score: 0.3, cooldown_s: 0, min_frames: 1, severity: 'alert' }],
  }, 'storage read-only test');
  const { log, lines } = captureLogger('info');
  const app = new App(cfg, log, { statsIntervalMs: 0 });
  let stopped = false;
  t.after(async () => {
    if (!stopped) await app.stop();
  });
  await app.start(new AbortController().signal);
  const eventIds = (): string[] => lines.filter((l) => l.msg === 'event' && l['stream'] === 'plaza').map((l) => String(l['event']));
  await waitFor('events stored before the fault', () => ((app.status().storage?.events ?? 0) >= 5 ? true : undefined), 60_000);

  const before = eventIds().length;
  const failedAt = Date.now();
  fs.failReadOnly();
  assert.ok(fs.readOnly(), 'the kernel made the filesystem read-only');

  // The alarm reaches the hub directly (the outbox cannot be written) within 10 s.
  const alarm = await waitFor('the degraded alarm at the hub', () => hub.messages.find((m) => m.topic.endsWith('/storage')), 10_000);
  const alarmMs = Date.now() - failedAt;
  const notice = storageMessageSchema.parse(alarm.json);
  assert.equal(notice.kind, 'degraded');
  assert.equal(notice.severity, 'critical');
  t.diagnostic(`alarm at the hub ${alarmMs} ms after the filesystem went read-only: ${notice.kind === 'degraded' ? notice.reason : ''}`);

  // Status, the watchdog's text, the retained state and Prometheus all say so.
  const health = app.status().storage?.health;
  assert.equal(health?.state, 'degraded');
  assert.match(health.code ?? '', /SQLITE_READONLY|SQLITE_IOERR|SQLITE_CANTOPEN/);
  const watchdog = createHealthCheck(() => app.status(), { streams: cfg.streams })();
  assert.match(watchdog.status, /^degraded: storage /);
  assert.equal(watchdog.healthy, true, 'no restart loop: a restart cannot make the disk writable');
  await waitFor('the retained state to say degraded', () => hub.messages.find((m) => m.topic.endsWith('/state') &&
    stateSchema.parse(m.json).storage?.state === 'degraded'));
  const printed: string[] = [];
  const out: Output = { raw: (x) => printed.push(x), result: (_j, _v, h) => printed.push(h), error: (x) => printed.push(x) };
  await buildProgram(out).parseAsync(['status', '--socket', cfg.control.socket], { from: 'user' });
  assert.match(printed.join('\n'), /\nstorage: DEGRADED since \S+: the (storage is read-only|disk reports I\/O errors)/, 'vigilctl status');
  const doctor = await daemonCheck(cfg.control.socket, 5000);
  assert.equal(doctor.outcome, 'FAIL', 'vigilctl doctor fails a daemon that cannot store');
  assert.match(doctor.detail, /storage degraded/);
  const listen = lines.find((l) => l.msg === 'Prometheus metrics at /metrics')?.['listen'];
  assert.ok(typeof listen === 'string', 'the metrics endpoint is up');
  const metrics = await (await fetch(`http://${listen}/metrics`)).text();
  assert.match(metrics, /^vigil_storage_degraded 1$/m);
  assert.match(metrics, /^vigil_storage_held_events [1-9]\d*$/m);

  // Events keep coming while degraded, and each one reaches the hub, marked not stored.
  await waitFor('20 more events after the fault', () => (eventIds().length >= before + 20 ? true : undefined), 60_000);
  const atHub = (): Map<string, boolean> => new Map(hub.messages.filter((m) => m.topic.endsWith('/alerts'))
    .map((m) => { const a = alertSchema.parse(m.json); return [a.id, a.stored === false] as const; }));
  const ids = eventIds();
  const got = await waitFor('every event so far at the hub', () => {
    const seen = atHub();
    return ids.every((id) => seen.has(id)) ? seen : undefined;
  }, 20_000);
  const unstored = ids.filter((id) => got.get(id) === true).length;
  t.diagnostic(`${ids.length} events (${before} before the fault), ${unstored} of them sent directly as not stored; ` +
    `held ${app.status().storage?.health?.held}`);
  assert.ok(unstored >= 20, 'events after the fault were sent directly');
  const final = app.status();
  const lost = final.storage?.health?.lost;
  assert.deepEqual(lost, { info: 0, warning: 0, alert: 0, critical: 0 }, 'nothing given up: the bound was not reached');
  assert.equal(final.streams[0]?.analysis.eventErrors, 0, 'no event failed in the sink');
  await app.stop();
  stopped = true;
});
