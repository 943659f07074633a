import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../daemon/log.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { AnalysedRate } from '../../daemon/telemetry/snapshot.js';
import { SystemSampler, type SystemInfoSource } from '../../daemon/telemetry/system-sampler.js';
import { MAX_QUEUED_REPORTS, TELEMETRY_PRIORITY } from '../../daemon/telemetry/telemetry-service.js';
import { parseListen } from '../../daemon/telemetry/prometheus.js';
import { alertOutbox, severityPriority } from '../../daemon/uplink/alert-message.js';
import { SampleRing } from '../../daemon/util/sample-ring.js';
import { tempDir } from '../helpers/shared.js';

const fakeSi = (overrides: Partial<SystemInfoSource> = {}): SystemInfoSource => ({
  currentLoad: () => Promise.resolve({ currentLoad: 12.5 }),
  mem: () => Promise.resolve({ total: 8e9, available: 6e9 }),
  cpuTemperature: () => Promise.resolve({ main: null }),
  ...overrides,
});

/** An L4T sysfs as an Orin shows it: thermal zones (one switched off) and the GPU as a devfreq device. */
async function jetsonSys(root: string): Promise<void> {
  const zones: [string, string][] = [['cpu-thermal', '47500'], ['gpu-thermal', '45000'], ['tj-thermal', '48250'], ['PMIC-Die', '-256000']];
  for (const [i, [type, temp]] of zones.entries()) {
    const dir = path.join(root, 'class', 'thermal', `thermal_zone${i}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'type'), `${type}\n`);
    await writeFile(path.join(dir, 'temp'), `${temp}\n`);
  }
  await mkdir(path.join(root, 'class', 'thermal', 'cooling_device0'), { recursive: true });
  const gpu = path.join(root, 'class', 'devfreq', '17000000.ga10b', 'device');
  await mkdir(gpu, { recursive: true });
  await writeFile(path.join(gpu, 'load'), '734\n');
  await mkdir(path.join(root, 'class', 'devfreq', '15340000.vic', 'device'), { recursive: true });
  await writeFile(path.join(root, 'class', 'devfreq', '15340000.vic', 'device', 'load'), '999\n');
}

test('sampler on a Jetson: every thermal zone that reads, the hottest first in line, GPU load from devfreq in per mille', async (t) => {
  const dir = await tempDir(t);
  const sys = path.join(dir, 'sys');
  await jetsonSys(sys);
  const sampler = new SystemSampler({ diskPath: dir, log: silentLogger(), sysRoot: sys, source: fakeSi() });
  const s = await sampler.refresh();
  assert.deepEqual(s.temperatures, [
    { sensor: 'cpu-thermal', celsius: 47.5 }, { sensor: 'gpu-thermal', celsius: 45 }, { sensor: 'tj-thermal', celsius: 48.25 },
  ], 'the switched-off zone (-256 °C) is left out');
  assert.deepEqual(s.gpu, { device: '17000000.ga10b', loadPercent: 73.4 }, 'the GPU, not the VIC');
  assert.equal(s.cpuLoadPercent, 12.5);
  assert.deepEqual(s.memory, { usedBytes: 2e9, totalBytes: 8e9 });
  assert.ok(s.disk.freeBytes !== null && s.disk.freeBytes > 0);
  assert.equal(sampler.latest(), s);

  // The older L4T location wins when present, and the load is read again at every sample.
  await mkdir(path.join(sys, 'devices', 'gpu.0'), { recursive: true });
  await writeFile(path.join(sys, 'devices', 'gpu.0', 'load'), '1000\n');
  const again = new SystemSampler({ diskPath: dir, log: silentLogger(), sysRoot: sys, source: fakeSi() });
  assert.deepEqual((await again.refresh()).gpu, { device: 'gpu.0', loadPercent: 100 });
  await writeFile(path.join(sys, 'devices', 'gpu.0', 'load'), '0\n');
  assert.deepEqual((await again.refresh()).gpu, { device: 'gpu.0', loadPercent: 0 });
});

test('sampler on a PC or VM: no zones, no GPU → systeminformation temperature, else empty and null', async (t) => {
  const dir = await tempDir(t);
  let asked = 0;
  const withSensor = new SystemSampler({ diskPath: dir, log: silentLogger(), sysRoot: path.join(dir, 'none'),
    source: fakeSi({ cpuTemperature: () => Promise.resolve({ main: 55 }) }) });
  assert.deepEqual((await withSensor.refresh()).temperatures, [{ sensor: 'cpu', celsius: 55 }]);

  const none = new SystemSampler({ diskPath: dir, log: silentLogger(), sysRoot: path.join(dir, 'none'),
    source: fakeSi({ cpuTemperature: () => { asked += 1; return Promise.resolve({ main: null }); } }) });
  const s = await none.refresh();
  assert.deepEqual(s.temperatures, []);
  assert.equal(s.gpu, null);
  await none.refresh();
  assert.equal(asked, 1, 'a sensor found missing is not probed again (it may start a child process each time)');
});

test('sampler: a hanging source is cut off by its timeout and the other values still arrive; refreshes share one sample', async (t) => {
  const dir = await tempDir(t);
  // The deadline's timer does not hold the process open (a daemon has other handles); this test has none.
  const alive = setInterval(() => undefined, 1000);
  t.after(() => clearInterval(alive));
  let calls = 0;
  const sampler = new SystemSampler({
    diskPath: path.join(dir, 'missing'), log: silentLogger(), sysRoot: path.join(dir, 'none'), timeoutMs: 200,
    source: fakeSi({ currentLoad: () => { calls += 1; return new Promise(() => undefined); } }),
  });
  const started = performance.now();
  const [a, b] = await Promise.all([sampler.refresh(), sampler.refresh()]);
  const took = performance.now() - started;
  assert.equal(a, b, 'one sample for concurrent refreshes');
  assert.equal(calls, 1);
  assert.ok(took < 2000, `bounded by the timeout, took ${took.toFixed(0)} ms`);
  assert.equal(a.cpuLoadPercent, null);
  assert.deepEqual(a.disk, { path: path.join(dir, 'missing'), freeBytes: null, totalBytes: null }, 'an unreadable path is null, not 0');
  assert.deepEqual(a.memory, { usedBytes: 2e9, totalBytes: 8e9 });
});

test('sample ring: nearest-rank p50/p95 over the last N samples only', () => {
  const ring = new SampleRing(100);
  assert.equal(ring.percentiles(), null);
  for (let i = 1; i <= 100; i++) ring.push(i);
  assert.deepEqual(ring.percentiles(), { p50: 50, p95: 95, samples: 100 });
  for (let i = 0; i < 100; i++) ring.push(1000 + i);
  assert.deepEqual(ring.percentiles(), { p50: 1049, p95: 1094, samples: 100 }, 'old samples are gone');
  ring.push(Number.NaN);
  assert.equal(ring.percentiles()?.samples, 100);
  const one = new SampleRing(8);
  one.push(3);
  assert.deepEqual(one.percentiles(), { p50: 3, p95: 3, samples: 1 });
});

test('analysed rate: frames over a sliding window, null until it spans half a second', () => {
  const rate = new AnalysedRate(10_000);
  rate.observe('a', 0, 0);
  assert.equal(rate.rate('a', 1, 200), null);
  assert.equal(rate.rate('a', 5, 1000), 5);
  for (let s = 1; s <= 30; s++) rate.observe('a', s * 5, s * 1000);
  // The counter then runs at 2/s: after a whole window the old 5/s is gone from the rate.
  for (let s = 31; s <= 45; s++) rate.observe('a', 150 + (s - 30) * 2, s * 1000);
  const r = rate.rate('a', 180, 45_000);
  assert.ok(r !== null && Math.abs(r - 2) < 0.5, `rate ${r}`);
  assert.equal(rate.rate('unknown', 10, 1000), null);
});

test('store: telemetry rows queue without events, after every event, and only the newest are kept', async (t) => {
  const dir = await tempDir(t);
  const store = EventStore.open(dir);
  t.after(() => store.close());
  assert.ok(TELEMETRY_PRIORITY > severityPriority.info, 'below info');
  const topic = 'vigil/v1/s/d/telemetry';
  const first = store.enqueue({ topic, payload: '{"n":0}', qos: 1, priority: TELEMETRY_PRIORITY }, 3);
  store.recordEvent({ ts: Date.now(), stream: 'gate', rule: 'r', severity: 'info', kind: 'presence', payload: { objects: [] } },
    alertOutbox({ id: 'd', site: 's' }));
  for (let n = 1; n <= 5; n++) store.enqueue({ topic, payload: `{"n":${n}}`, qos: 1, priority: TELEMETRY_PRIORITY }, 3);
  store.enqueue({ topic: 'other', payload: '{}', qos: 1, priority: TELEMETRY_PRIORITY }, 3);
  const rows = store.peekOutbox(100);
  assert.equal(rows[0]?.topic, 'vigil/v1/s/d/events', 'the info event leaves first though queued later');
  assert.deepEqual(rows.filter((r) => r.topic === topic).map((r) => r.payload), ['{"n":3}', '{"n":4}', '{"n":5}']);
  assert.ok(rows.every((r) => r.topic !== topic || r.eventId === null));
  assert.ok(!rows.some((r) => r.seq === first), 'the oldest report was dropped');
  assert.equal(rows.filter((r) => r.topic === 'other').length, 1, 'other topics are not trimmed');
  assert.equal(store.listEvents().length, 1, 'reports are not events');
  assert.ok(MAX_QUEUED_REPORTS >= 1000);
});

test('listen addresses: host:port and [v6]:port', () => {
  assert.deepEqual(parseListen('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
});
