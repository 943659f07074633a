import assert from 'node:assert/strict';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { App } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import { createLogger } from '../../daemon/log.js';
import { TELEMETRY_PRIORITY } from '../../daemon/telemetry/telemetry-service.js';
import { telemetrySchema, type TelemetryPayload } from '../../daemon/uplink/payloads.js';
import { manifestPath, openDb, type LogLine } from '../e2e/daemon-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { subscribe } from '../uplink/harness.js';

const device = { id: 'plaza-1', site: 'station' };
const FPS = 5;
const MB = 1024 * 1024;

/** One Prometheus sample line: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    samples.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return samples;
}

function one(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(found.length, 1, `one ${name}${JSON.stringify(labels)} in the scrape, found ${found.length}`);
  return found[0]?.value ?? Number.NaN;
}

/**
 * The whole daemon in-process on the real plaza clip at 5 analysed frames/s through a real model,
 * with a real broker: the telemetry report that reaches the hub and the Prometheus scrape must both
 * carry every metric an operator watches, with values that match what the daemon is doing.
 */
test('telemetry: a real stream at 5 fps reports plausible health on MQTT and on /metrics', async (t) => {
  const dir = await tempDir(t, 'vigil-telemetry-');
  const broker = await startMosquitto(t);
  const storage = path.join(dir, 'state');
  const cfg = validateConfig({
    device,
    storage: { dir: storage },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: sharedPath('models'),
    models: [{ name: 'nanodet-m', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    control: { enabled: false },
    streams: [{ id: 'plaza', uri: pathToFileURL(sharedPath('video', 'pedestrians.mp4')).href, model: 'nanodet-m', loop: true, realtime: true, fps: FPS }],
    telemetry: { interval_s: 1, prometheus: { enabled: true, listen: '127.0.0.1:0' } },
  }, 'telemetry test');
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  const hub = await subscribe(t, broker.url, `vigil/v1/${device.site}/${device.id}/telemetry`);
  const app = new App(cfg, createLogger('info', sink), { statsIntervalMs: 0 });
  t.after(() => app.stop());
  await app.start(new AbortController().signal);

  // A report from a steady state: the analysed rate spans several seconds of playing and both latency rings have samples.
  const report = await waitFor('a telemetry report with a steady analysed rate', () => {
    const reports = hub.messages.map((m) => telemetrySchema.parse(m.json));
    const last = reports.at(-1);
    const s = last?.streams[0];
    return last && s && s.state === 'playing' && s.analysed_fps !== null && s.frames_analysed >= 4 * FPS && s.inference_ms ? last : undefined;
  }, 60_000, 50);
  const raw = hub.messages.at(-1);
  t.diagnostic(`report: ${JSON.stringify(report)}`);
  assert.equal(raw?.retain, false);

  assert.equal(report.schema, 'vigil.telemetry/1');
  assert.equal(report.device, device.id);
  assert.equal(report.site, device.site);
  assert.equal(report.interval_s, 1);
  assert.ok(Math.abs(Date.parse(report.ts) - Date.now()) < 30_000, 'ts is recent');
  const ids = new Set(hub.messages.map((m) => (m.json as { id: string }).id));
  assert.equal(ids.size, hub.messages.length, 'every report has its own id');
  assert.ok(hub.messages.length >= 2, 'reports keep coming at the interval');

  const [s] = report.streams;
  assert.ok(s, 'the stream is reported');
  assert.equal(s.id, 'plaza');
  assert.equal(s.model, 'nanodet-m');
  assert.ok(s.analysed_fps !== null && s.analysed_fps >= 3 && s.analysed_fps <= 6, `analysed fps ${s.analysed_fps} near ${FPS}`);
  assert.ok(s.pulled_fps >= 3 && s.pulled_fps <= 6, `pulled fps ${s.pulled_fps} near ${FPS}`);
  assert.ok(s.frames_pulled >= s.frames_analysed, 'no frame is analysed without being pulled');
  assert.ok(s.frames_dropped >= 0);
  assert.equal(s.restarts, 0);
  assert.equal(report.pipeline_restarts, 0);
  assert.ok(s.inference_ms && s.inference_ms.p50 > 1 && s.inference_ms.p50 < 2000, `inference p50 ${s.inference_ms?.p50} ms`);
  assert.ok(s.inference_ms.p95 >= s.inference_ms.p50);
  assert.ok(s.end_to_end_ms && s.end_to_end_ms.p50 >= s.inference_ms.p50 * 0.5, 'end to end includes inference');
  assert.ok(s.end_to_end_ms.p95 >= s.end_to_end_ms.p50 && s.end_to_end_ms.p95 < 10_000);
  assert.ok(s.last_frame_age_s !== null && s.last_frame_age_s < 5, `last frame ${s.last_frame_age_s} s ago`);

  const sys = report.system;
  assert.ok(sys.cpu_load_percent !== null && sys.cpu_load_percent > 0 && sys.cpu_load_percent <= 100, `cpu ${sys.cpu_load_percent} %`);
  assert.ok(sys.process_cpu_percent !== null && sys.process_cpu_percent > 0, `process cpu ${sys.process_cpu_percent} %`);
  assert.ok(sys.memory.rss_bytes > 50 * MB, `rss ${sys.memory.rss_bytes}`);
  assert.ok(sys.memory.heap_used_bytes > 0 && sys.memory.heap_used_bytes <= sys.memory.heap_total_bytes);
  assert.ok(sys.memory.system_total_bytes !== null && sys.memory.system_total_bytes > sys.memory.rss_bytes);
  assert.ok(sys.memory.system_used_bytes !== null && sys.memory.system_used_bytes >= sys.memory.rss_bytes);
  assert.equal(sys.disk.path, storage);
  assert.ok(sys.disk.free_bytes !== null && sys.disk.free_bytes > 0 && sys.disk.total_bytes !== null && sys.disk.free_bytes <= sys.disk.total_bytes);
  // This VM has no thermal sensor and no Jetson GPU: both must be null, never a made-up 0.
  assert.equal(sys.temperature_celsius, sys.temperatures.length > 0 ? Math.max(...sys.temperatures.map((x) => x.celsius)) : null);
  assert.equal(sys.gpu_load_percent, null);
  assert.equal(sys.emc_load_percent, null);
  assert.deepEqual(sys.power_rails, [], 'no INA3221 here: no rails');
  assert.ok(sys.sample_age_s !== null && sys.sample_age_s < 10, `system sample ${sys.sample_age_s} s old`);

  assert.ok(report.outbox.depth >= 0, `outbox depth ${report.outbox.depth}`);
  assert.ok(report.uplink?.connected, 'uplink connected');
  assert.ok(report.uplink.acked > 0, 'reports were acknowledged');
  assert.ok(report.storage && report.storage.db_bytes > 0);

  // Delivered reports leave the outbox like any message: nothing accumulates while the broker is there.
  const status = app.status();
  assert.equal(status.telemetry?.schema, 'vigil.telemetry/1', 'App.status() carries the newest report');
  await waitFor('delivered reports to leave the outbox', () => {
    const depth = app.status().uplink?.outbox.find((p) => p.priority === TELEMETRY_PRIORITY)?.depth ?? 0;
    return depth <= 1 ? true : undefined;
  });

  // Prometheus: the same facts, scraped from the configured (here: any free) loopback port.
  const listening = lines.find((l) => l.msg === 'Prometheus metrics at /metrics');
  const listen = (listening as { listen?: string } | undefined)?.listen;
  assert.ok(listen?.startsWith('127.0.0.1:'), `listening on loopback: ${listen}`);
  const res = await fetch(`http://${listen}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  const samples = parseExposition(text);
  const plaza = { stream: 'plaza' };
  const fps = one(samples, 'vigil_stream_fps', plaza);
  assert.ok(fps >= 3 && fps <= 6, `vigil_stream_fps ${fps}`);
  assert.ok(one(samples, 'vigil_stream_frames_pulled_total', plaza) >= s.frames_pulled);
  assert.ok(one(samples, 'vigil_stream_frames_analysed_total', plaza) >= s.frames_analysed);
  assert.ok(one(samples, 'vigil_stream_frames_dropped_total', plaza) >= 0);
  assert.equal(one(samples, 'vigil_pipeline_restarts_total', plaza), 0);
  assert.equal(one(samples, 'vigil_stream_state', { stream: 'plaza', state: 'playing' }), 1);
  assert.equal(one(samples, 'vigil_stream_state', { stream: 'plaza', state: 'backoff' }), 0);
  const p50 = one(samples, 'vigil_inference_ms', { stream: 'plaza', quantile: '0.5' });
  const p95 = one(samples, 'vigil_inference_ms', { stream: 'plaza', quantile: '0.95' });
  assert.ok(p50 > 1 && p50 < 2000 && p95 >= p50, `inference p50 ${p50}, p95 ${p95}`);
  assert.ok(one(samples, 'vigil_end_to_end_latency_ms', { stream: 'plaza', quantile: '0.5' }) > 0);
  for (const priority of ['0', '1', '2', '3', '4']) assert.ok(one(samples, 'vigil_outbox_depth', { priority }) >= 0);
  assert.equal(one(samples, 'vigil_uplink_connected'), 1);
  const cpu = one(samples, 'vigil_cpu_load_percent');
  assert.ok(cpu > 0 && cpu <= 100, `cpu ${cpu}`);
  assert.ok(one(samples, 'vigil_process_rss_bytes') > 50 * MB);
  assert.ok(one(samples, 'vigil_process_heap_used_bytes') > 0);
  assert.ok(one(samples, 'vigil_memory_total_bytes') > 0);
  assert.ok(one(samples, 'vigil_disk_free_bytes', { path: storage }) > 0);
  assert.ok(Number.isNaN(one(samples, 'vigil_gpu_load_percent')), 'no GPU here: NaN, not 0');
  assert.ok(Number.isNaN(one(samples, 'vigil_emc_load_percent')), 'no EMC monitor here: NaN, not 0');
  assert.equal(samples.filter((x) => x.name === 'vigil_power_rail_milliwatts').length, 0, 'no rails: no series');
  assert.equal(samples.filter((x) => x.name === 'vigil_temperature_celsius').length, sys.temperatures.length);
  assert.ok(one(samples, 'vigil_telemetry_reports_total') >= hub.messages.length);
  assert.equal(one(samples, 'vigil_info', { version: report.version, device: device.id, site: device.site }), 1);
  t.diagnostic(`scrape: ${samples.length} samples, ${text.length} bytes`);

  assert.equal((await fetch(`http://${listen}/other`)).status, 404);
  assert.ok(!lines.some((l) => l.level === 'error' || l.level === 'fatal'), JSON.stringify(lines.filter((l) => l.level === 'error')));

  // Reports are not events: nothing for vigilctl events to list, nothing for the event budget to weigh.
  await app.stop();
  const db = openDb(t, storage);
  const rows = db.prepare("SELECT count(*) AS n FROM events WHERE kind <> 'presence'").get() as { n: number };
  assert.equal(rows.n, 0);
});

test('telemetry: /metrics can be turned off, and a taken port costs only the endpoint', async (t) => {
  const dir = await tempDir(t, 'vigil-telemetry-');
  const broker = await startMosquitto(t);
  const base = {
    device,
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    control: { enabled: false as const },
    streams: [{ id: 'ball', uri: 'test://ball?width=320&height=240&fps=10', fps: FPS }],
  };
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  const first = new App(validateConfig({ ...base, storage: { dir: path.join(dir, 'a') },
    telemetry: { interval_s: 1, prometheus: { listen: '127.0.0.1:0' } } }, 'a'), createLogger('info', sink), { statsIntervalMs: 0 });
  t.after(() => first.stop());
  await first.start(new AbortController().signal);
  const listen = (lines.find((l) => l.msg === 'Prometheus metrics at /metrics') as { listen?: string } | undefined)?.listen;
  assert.ok(listen);

  // A second daemon on the same port: a warning, no endpoint, and its reports still reach the hub.
  const hub = await subscribe(t, broker.url, 'vigil/v1/station/plaza-2/telemetry');
  const second = new App(validateConfig({ ...base, device: { ...device, id: 'plaza-2' }, storage: { dir: path.join(dir, 'b') },
    telemetry: { interval_s: 1, prometheus: { listen } } }, 'b'), createLogger('info', sink), { statsIntervalMs: 0 });
  t.after(() => second.stop());
  await second.start(new AbortController().signal);
  assert.ok(lines.some((l) => l.msg.startsWith('Prometheus endpoint unavailable') && l.level === 'warn'));
  const report: TelemetryPayload = await waitFor('a report from the second daemon', () => {
    const m = hub.messages.at(-1);
    return m ? telemetrySchema.parse(m.json) : undefined;
  }, 20_000);
  assert.equal(report.streams[0]?.model, null);
  assert.equal(report.streams[0]?.inference_ms, null, 'no model: no inference percentiles');

  await first.stop();
  const off = new App(validateConfig({ ...base, storage: { dir: path.join(dir, 'c') },
    telemetry: { prometheus: { enabled: false, listen } } }, 'c'), createLogger('info', sink), { statsIntervalMs: 0 });
  t.after(() => off.stop());
  await off.start(new AbortController().signal);
  await assert.rejects(fetch(`http://${listen}/metrics`), 'nothing listens when disabled');
});
