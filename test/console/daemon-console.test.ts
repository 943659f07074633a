import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { AuditEntry } from '../../daemon/control/audit.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { repoRoot, tempDir, waitFor } from '../helpers/shared.js';
import { vigilctl } from '../helpers/vigilctl.js';
import { openDb, spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';
import { call, login, PASSWORD } from './console-fixture.js';

const VIGILCTL = path.join(repoRoot, 'dist', 'cli', 'main.js');

/** The real vigilctl entry as a process, the password on its stdin as an installer's script gives it. */
function addUser(stateDir: string, name: string, role: string, password = PASSWORD): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [VIGILCTL, 'console', 'adduser', name, '--role', role, '--password-stdin', '--state-dir', stateDir],
      (err, out, errText) => resolve({ code: err ? Number(err.code ?? 1) : 0, out, err: errText }));
    child.stdin?.end(`${password}\n`);
  });
}

/** Every `vigil_*` metric the dashboard's queries name. */
async function dashboardMetrics(): Promise<string[]> {
  const dash = JSON.parse(await readFile(path.join(repoRoot, 'docs', 'grafana', 'vigil-dashboard.json'), 'utf8')) as
    { panels: { targets?: { expr: string }[] }[] };
  const names = dash.panels.flatMap((p) => p.targets ?? []).flatMap((t) => [...t.expr.matchAll(/\bvigil_[a-z0-9_]+/g)].map((m) => m[0]));
  return [...new Set(names)].sort();
}

test('a running vigild serves the console: users from vigilctl, roles, reviews, audit in vigil.db, pictures, health; the dashboard\'s metrics exist', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const stateDir = path.join(dir, 'state');
  const socket = path.join(dir, 'vigild.sock');
  // Accounts made before the daemon runs, with the CLI an installer uses; none exists otherwise.
  for (const [name, role] of [['admin', 'admin'], ['op', 'operator'], ['viewer', 'viewer']] as const) {
    const r = await addUser(stateDir, name, role);
    assert.equal(r.code, 0, r.err);
  }
  assert.equal((await stat(path.join(stateDir, 'console-users.json'))).mode & 0o777, 0o600);
  const config = await writeConfig(dir, {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: stateDir }, mqtt: { url: broker.url },
    streams: [{ id: 'pattern', uri: 'test://ball?width=640&height=480&fps=10', fps: 5 }],
    rules: [],
    telemetry: { interval_s: 1, prometheus: { enabled: true, listen: '127.0.0.1:0' } },
    console: { enabled: true, listen: '127.0.0.1:0' },
  });
  const vigild = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  const listening = await vigild.waitForLine('the console listening', (l) => l.msg === 'console listening', 30_000);
  const port = Number(new URL(String(listening['url'])).port);
  await vigild.waitForLine('vigild running', (l) => l.msg === 'vigild running', 30_000);

  // Nothing without a session; the page is there.
  assert.equal((await call(port, 'GET', '/api/me')).status, 401);
  assert.equal((await call(port, 'GET', '/')).status, 200);

  const admin = await login(port, 'admin', PASSWORD);
  const status = await admin.rpc('status');
  assert.equal(status.status, 200);
  assert.deepEqual((status.json as { result: { device: unknown } }).result.device, { id: 'cam-1', site: 'lab' });
  // An event to review: the admin sends a test alert through the real uplink.
  const sent = await admin.rpc('test_alert.send');
  assert.equal(sent.status, 200, sent.text);
  const eventId = (sent.json as { result: { event_id: string } }).result.event_id;

  const viewer = await login(port, 'viewer', PASSWORD);
  const refused = await viewer.rpc('rules.add', { rule: { id: 'door', stream: 'pattern', kind: 'presence' } });
  assert.equal(refused.status, 403);
  const op = await login(port, 'op', PASSWORD);
  const acked = await op.rpc('events.ack', { id: eventId, verdict: 'false_alarm', note: 'checked on the console' });
  assert.equal(acked.status, 200, acked.text);
  // The review as vigilctl shows it, over the daemon's socket.
  const shown = await vigilctl(['events', 'show', eventId, '--socket', socket, '--json']);
  assert.equal(shown.code, 0, shown.err);
  const review = (JSON.parse(shown.out) as { review: { source: string; verdict: string } }).review;
  assert.deepEqual([review.source, review.verdict], ['console:op', 'false_alarm']);

  // The audit trail in the database, as an operator reads it.
  const db = openDb(t, stateDir);
  const audits = await waitFor('the console\'s audit events in vigil.db', () => {
    const rows = (db.prepare("SELECT payload FROM events WHERE kind = 'audit' ORDER BY id").all() as { payload: string }[])
      .map((r) => (JSON.parse(r.payload) as { audit: AuditEntry }).audit).filter((a) => a.transport === 'console');
    return rows.some((a) => a.method === 'events.ack') ? rows : undefined;
  });
  assert.ok(audits.some((a) => a.outcome === 'refused' && a.method === 'rules.add' && a.operator === 'console:viewer'));
  assert.ok(audits.some((a) => a.outcome === 'accepted' && a.method === 'test_alert.send' && a.operator === 'console:admin'));
  assert.ok(audits.some((a) => a.outcome === 'accepted' && a.method === 'events.ack' && a.operator === 'console:op'));

  // A live picture of the stream, at the camera's size or the width asked for; its overlay as data.
  const jpeg = await waitFor('a snapshot of the stream', async () => {
    const r = await viewer.get('/api/streams/pattern/snapshot.jpg?overlay=1');
    return r.status === 200 ? r : undefined;
  }, 20_000, 200);
  assert.equal(jpeg.headers['content-type'], 'image/jpeg');
  assert.ok(Math.abs(Number(jpeg.headers['x-frame-ts']) - Date.now()) < 10_000, 'the capture time, wall clock');
  assert.deepEqual([...jpeg.body.subarray(0, 3)], [0xff, 0xd8, 0xff]);
  const small = await viewer.get('/api/streams/pattern/snapshot.jpg?max_width=320');
  assert.equal(small.status, 200);
  assert.ok(small.body.length < jpeg.body.length, 'scaled down');
  const overlay = await viewer.get('/api/streams/pattern/overlay');
  assert.equal(overlay.status, 200);
  assert.deepEqual(Object.keys(overlay.json as object).sort(), ['height', 'lines', 'tracks', 'ts', 'width', 'zones']);
  assert.equal((await viewer.get('/api/streams/nope/snapshot.jpg')).status, 404);

  // Health: the history has its first sample (taken at start), and the doctor answers through vigilctl.
  const telemetry = await viewer.get('/api/telemetry');
  const samples = (telemetry.json as { samples: { rss: number; streams: Record<string, unknown> }[] }).samples;
  assert.ok(samples.length >= 1);
  assert.ok((samples[0]?.rss ?? 0) > 0);
  const doctor = await viewer.get('/api/doctor');
  assert.equal(doctor.status, 200, doctor.text);
  const checks = (doctor.json as { checks: { name: string; status: string }[] }).checks;
  assert.ok(checks.some((c) => c.name === 'config' && c.status === 'OK'), JSON.stringify(checks));

  // An account removed with vigilctl while the daemon runs loses its session at its next request.
  const removed = await vigilctl(['console', 'deluser', 'viewer', '--state-dir', stateDir]);
  assert.equal(removed.code, 0, removed.err);
  assert.equal((await viewer.get('/api/me')).status, 401);

  // Every metric the Grafana dashboard queries is one this daemon exports.
  const metricsLine = await vigild.waitForLine('the metrics endpoint', (l) => l.msg === 'Prometheus metrics at /metrics');
  const metricsPort = Number(String(metricsLine['listen']).split(':').pop());
  const exported = (await call(metricsPort, 'GET', '/metrics')).text;
  const types = new Map([...exported.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
  const wanted = await dashboardMetrics();
  assert.ok(wanted.length >= 25, `the dashboard queries ${wanted.length} metrics`);
  const missing = wanted.filter((name) => {
    if (types.has(name)) return false;
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return types.get(base) !== 'histogram';
  });
  assert.deepEqual(missing, [], 'metrics the dashboard queries but /metrics does not export');

  assert.equal((await op.post('/api/logout', {})).status, 204);
  const exit = await vigild.stop();
  assert.equal(exit.code, 0);
});
