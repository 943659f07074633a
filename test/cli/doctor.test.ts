import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { expiryOutcome, type CheckResult } from '../../cli/commands/doctor.js';
import { CliError } from '../../cli/errors.js';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';
import { ControlSocket } from '../../daemon/control/socket-server.js';
import { silentLogger } from '../../daemon/log.js';
import { freePort, startMosquitto } from '../helpers/mosquitto.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';

interface Report { healthy: boolean; checks: CheckResult[] }

/** Runs the real command; returns what it printed and how it ended (CliError or not). */
async function doctor(config: string, extra: string[] = [], json = true): Promise<{ text: string; report: Report | null; error: unknown; ms: number }> {
  const lines: string[] = [];
  const out: Output = { raw: (t) => lines.push(t), result: (j, v, h) => lines.push(j ? JSON.stringify(v) : h), error: (t) => lines.push(t) };
  const started = Date.now();
  let error: unknown = null;
  try {
    await buildProgram(out).parseAsync(['doctor', '--config', config, ...extra, ...(json ? ['--json'] : [])], { from: 'user' });
  } catch (err) {
    error = err;
  }
  const text = lines.join('\n');
  return { text, report: json ? JSON.parse(text) as Report : null, error, ms: Date.now() - started };
}

function check(report: Report | null, name: string): CheckResult {
  const c = report?.checks.find((r) => r.name === name);
  assert.ok(c, `no check "${name}" in ${JSON.stringify(report?.checks.map((r) => r.name))}`);
  return c;
}

const MODELS = [
  { name: 'yolox-nano', manifest: path.join(repoRoot, 'models', 'yolox-nano.json') },
  { name: 'nanodet-m', manifest: path.join(repoRoot, 'models', 'nanodet-m.json') },
];

async function writeConfig(dir: string, name: string, cfg: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(cfg, null, 2)); // JSON is YAML
  return file;
}

const openssl = (...args: string[]): void => { execFileSync('openssl', args, { stdio: 'ignore' }); };

/** A CA valid for `caDays`, and a broker and a device certificate it signed. */
async function pki(dir: string, caDays: number): Promise<Record<'ca' | 'caKey' | 'server' | 'serverKey' | 'device' | 'deviceKey', string>> {
  const f = (n: string): string => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', String(caDays), '-subj', '/CN=vigil-test-ca');
  await writeFile(f('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, cn] of [['server', '127.0.0.1'], ['device', 'cam-1']] as const) {
    openssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-days', '365', '-out', f(`${name}.pem`), ...(name === 'server' ? ['-extfile', f('san.ext')] : []));
  }
  return { ca: f('ca.pem'), caKey: f('ca.key'), server: f('server.pem'), serverKey: f('server.key'), device: f('device.pem'), deviceKey: f('device.key') };
}

/** A real control socket, with the daemon's status reduced to what doctor reads. */
async function fakeDaemon(t: TestContext, dir: string): Promise<string> {
  const socket = path.join(dir, 'vigild.sock');
  const control = new ControlSocket(socket, {
    // A whole status as the method table's result schema wants it (daemon/control/results.ts): doctor parses the reply.
    status: () => ({
      version: '0.1.0', device: { id: 'cam-1', site: 'lab' },
      streams: [{
        id: 'gate', state: 'playing', decoder: 'avdec_h264', framesPulled: 10, framesDropped: 0, restarts: 0, lastError: null, fps: 5,
        model: 'yolox-nano', provider: 'cpu',
        analysis: { framesAnalysed: 10, inferences: 10, inferenceErrors: 0, inferenceMs: 12, motionFrames: 0, events: 0, eventErrors: 0,
          lastDetections: 0, tracks: 0, openActivities: 0, endedActivities: 0, gatedFrames: 0, skippedFrames: 0, pendingInferences: 0, finished: false },
        latency: { inferenceMs: null, endToEndMs: null },
      }],
      models: [{ name: 'yolox-nano', provider: 'cpu', error: null }],
      uplink: { connected: true, url: 'mqtt://127.0.0.1:1883', published: 0, acked: 0, retries: 0, failures: 0, inFlight: 0, ackRate: 0,
        disconnects: 0, outboxDepth: 0, oldestAgeMs: null, outbox: [], lastError: null },
      storage: null,
    }),
    listEvents: () => [],
  }, silentLogger());
  await control.start();
  t.after(() => control.stop());
  return socket;
}

const jetson = existsSync('/etc/nv_tegra_release');

void test('doctor: a healthy device passes every check, with the real broker, models and daemon socket', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const socket = await fakeDaemon(t, dir);
  const config = await writeConfig(dir, 'vigil.yaml', {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
    models_dir: sharedPath('models'), models: MODELS, inference: { providers: ['cpu'] }, control: { socket },
  });
  const { report, error, ms } = await doctor(config);
  assert.equal(error, null, `doctor failed: ${JSON.stringify(report, null, 1)}`);
  assert.equal(report?.healthy, true);
  assert.deepEqual(report.checks.map((c) => c.name), ['gstreamer', 'gst-plugins', 'nvdec', 'onnxruntime', 'config',
    'model:yolox-nano', 'model:nanodet-m', 'disk', 'clock', 'broker', 'certificates', 'daemon']);
  for (const name of ['gstreamer', 'gst-plugins', 'onnxruntime', 'config', 'model:yolox-nano', 'model:nanodet-m', 'disk', 'broker', 'certificates', 'daemon']) {
    assert.equal(check(report, name).outcome, 'OK', `${name}: ${JSON.stringify(check(report, name))}`);
  }
  assert.match(check(report, 'model:yolox-nano').detail, /yolox-nano\/model\.onnx sha256 ok/);
  assert.match(check(report, 'broker').detail, new RegExp(`connected to ${broker.url}`));
  assert.equal(check(report, 'daemon').detail, 'running: 1/1 streams playing, uplink connected');
  assert.equal(check(report, 'nvdec').outcome, jetson ? 'OK' : 'WARN');
  // Without systemd as PID 1 timedatectl cannot answer: "unknown" is a warning, never a pass.
  const clock = check(report, 'clock');
  assert.ok(clock.outcome === 'OK' ? clock.detail === 'NTP synchronised' : clock.outcome === 'WARN' && clock.hint !== undefined, JSON.stringify(clock));
  for (const c of report.checks) assert.equal(c.hint !== undefined, c.outcome !== 'OK', `hint only on WARN/FAIL: ${JSON.stringify(c)}`);
  assert.ok(ms < 30_000, `doctor took ${ms} ms`);
});

void test('doctor: a corrupt model, an unreachable broker and a stopped daemon are named, exit code 1', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const manifest = JSON.parse(await readFile(MODELS[0]?.manifest ?? '', 'utf8')) as { sha256: string };
  const wrong = `${manifest.sha256.slice(0, -1)}${manifest.sha256.endsWith('0') ? '1' : '0'}`;
  const badManifest = path.join(dir, 'bad.json');
  await writeFile(badManifest, JSON.stringify({ ...manifest, sha256: wrong }));
  const port = await freePort(); // nothing listens there
  const config = await writeConfig(dir, 'vigil.yaml', {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir }, mqtt: { url: `mqtt://127.0.0.1:${port}` },
    models_dir: sharedPath('models'), models: [{ name: 'bad', manifest: badManifest }, MODELS[1]],
    inference: { providers: ['cpu'] }, control: { socket: path.join(dir, 'none.sock') },
  });
  const { report, error } = await doctor(config);
  assert.ok(error instanceof CliError && error.exitCode === 1, `expected exit code 1, got ${String(error)}`);
  assert.match(error.message, /unhealthy: model:bad, broker/);
  assert.equal(report?.healthy, false);
  const bad = check(report, 'model:bad');
  assert.equal(bad.outcome, 'FAIL');
  assert.match(bad.detail, new RegExp(`sha256 mismatch .*expected ${wrong}, got ${manifest.sha256}`));
  assert.equal(check(report, 'model:nanodet-m').outcome, 'OK', 'one bad model does not taint another');
  const broker = check(report, 'broker');
  assert.equal(broker.outcome, 'FAIL');
  assert.match(broker.detail, /ECONNREFUSED/);
  assert.match(broker.hint ?? '', /mqtt\.url/);
  const daemon = check(report, 'daemon');
  assert.equal(daemon.outcome, 'WARN');
  assert.match(daemon.detail, /^not running \(ENOENT/);
});

void test('doctor: a broker that accepts TCP but never answers fails within --timeout', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const accepted = new Set<net.Socket>();
  const silent = net.createServer((s) => { accepted.add(s); s.on('error', () => undefined); });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    for (const s of accepted) s.destroy();
    silent.close(() => resolve());
  }));
  const { port } = silent.address() as net.AddressInfo;
  const config = await writeConfig(dir, 'vigil.yaml', {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir }, mqtt: { url: `mqtt://127.0.0.1:${port}` },
    control: { socket: path.join(dir, 'none.sock') },
  });
  const { report, error, ms } = await doctor(config, ['--timeout', '0.5']);
  assert.ok(error instanceof CliError && error.exitCode === 1);
  assert.equal(check(report, 'broker').outcome, 'FAIL');
  assert.match(check(report, 'broker').detail, /^no CONNACK from mqtt:\/\/127\.0\.0\.1:\d+ within 500 ms$/);
  assert.ok(ms < 10_000, `took ${ms} ms`);
  assert.equal(check(report, 'models').outcome, 'WARN', 'no models configured is worth a warning');
});

void test('doctor: over mutual TLS, a CA with 10 days left is a WARN; a key that does not match its certificate a FAIL', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const certs = await pki(dir, 10);
  // The options after the generated "listener" line apply to it: TLS with client certificates required.
  const broker = await startMosquitto(t, { extraConfig: [`cafile ${certs.ca}`, `certfile ${certs.server}`, `keyfile ${certs.serverKey}`, 'require_certificate true'] });
  const url = broker.url.replace('mqtt://', 'mqtts://');
  const base = { device: { id: 'cam-1', site: 'lab' }, storage: { dir }, control: { socket: path.join(dir, 'none.sock') } };
  const good = await writeConfig(dir, 'good.yaml', { ...base, mqtt: { url, ca: certs.ca, cert: certs.device, key: certs.deviceKey } });
  const { report, error } = await doctor(good);
  assert.equal(error, null, JSON.stringify(report?.checks.filter((c) => c.outcome === 'FAIL')));
  assert.match(check(report, 'broker').detail, /^connected to mqtts:/);
  const caCheck = check(report, 'certificate:ca');
  assert.equal(caCheck.outcome, 'WARN');
  assert.match(caCheck.detail, /expires .* \((9|10) days\)/);
  assert.match(caCheck.hint ?? '', /CA/);
  const certCheck = check(report, 'certificate:cert');
  assert.equal(certCheck.outcome, 'OK');
  assert.match(certCheck.detail, /\((364|365) days\), matches its key/);

  const mismatched = await writeConfig(dir, 'bad.yaml', { ...base, mqtt: { url, ca: certs.ca, cert: certs.device, key: certs.caKey } });
  const bad = await doctor(mismatched);
  assert.ok(bad.error instanceof CliError && bad.error.exitCode === 1);
  assert.equal(check(bad.report, 'certificate:cert').outcome, 'FAIL');
  assert.match(check(bad.report, 'certificate:cert').detail, /does not match the key/);
  assert.equal(check(bad.report, 'broker').outcome, 'FAIL', 'the broker refuses the TLS handshake too');
});

void test('doctor: expired and not-yet-valid certificates fail (a device clock in the past looks like the latter)', () => {
  const now = Date.UTC(2026, 5, 1);
  const day = 86_400_000;
  assert.equal(expiryOutcome(new Date(now - 1), new Date(now - 400 * day), now).outcome, 'FAIL');
  assert.match(expiryOutcome(new Date(now - 1), new Date(now - 400 * day), now).detail, /^expired /);
  assert.match(expiryOutcome(new Date(now + 400 * day), new Date(now + day), now).detail, /^not valid before /);
  assert.equal(expiryOutcome(new Date(now + 29 * day), new Date(now - day), now).outcome, 'WARN');
  assert.equal(expiryOutcome(new Date(now + 31 * day), new Date(now - day), now).outcome, 'OK');
});

void test('doctor: an invalid config fails with its problems, human output has one line per check and a fix hint', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(dir, 'vigil.yaml', { device: { id: '-bad', site: 'lab' }, mqtt: { url: 'http://x' } });
  const { text, error } = await doctor(config, [], false);
  assert.ok(error instanceof CliError && error.exitCode === 1);
  const lines = text.split('\n');
  assert.match(text, /^FAIL {2}config +.*device\.id: expected .*mqtt\.url: expected/m);
  assert.match(text, /^ +fix: vigilctl config validate /m);
  assert.ok(!/model|broker|daemon/.test(lines.filter((l) => /^(OK|WARN|FAIL) /.test(l)).map((l) => l.split(/ +/)[1]).join(' ')),
    'checks that need a valid config are not run');
  assert.match(lines.at(-1) ?? '', /^UNHEALTHY: \d+ OK, \d+ WARN, 1 FAIL$/);
  for (const l of lines.filter((x) => x !== '' && !x.startsWith(' ') && !x.startsWith('UNHEALTHY'))) {
    assert.match(l, /^(OK {3}|WARN {1}|FAIL {1}) \S+ +\S/, `malformed line: ${l}`);
  }
});

void test('doctor: the GStreamer check asks for every element the pipeline builder uses (parsebin missing is named, with its package)', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  // gst-inspect as on a machine without the playback plugin that parsebin comes in.
  const inspect = path.join(dir, 'gst-inspect');
  await writeFile(inspect, '#!/bin/sh\n[ "$1" = --exists ] && [ "$2" = parsebin ] && exit 1\nexec gst-inspect-1.0 "$@"\n', { mode: 0o755 });
  const config = await writeConfig(dir, 'vigil.yaml', { device: { id: 'cam-1', site: 'lab' }, mqtt: { url: 'mqtt://127.0.0.1:1' } });
  const run = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'cli', 'main.js'), 'doctor', '--config', config, '--json'],
    { env: { ...process.env, VIGIL_GST_INSPECT: inspect }, encoding: 'utf8', timeout: 25_000 });
  const report = JSON.parse(run.stdout) as Report;
  const plugins = check(report, 'gst-plugins');
  assert.equal(plugins.outcome, 'FAIL', JSON.stringify(plugins));
  assert.match(plugins.detail, /^missing parsebin$/);
  assert.match(plugins.hint ?? '', /apt install gstreamer1\.0-plugins-base/);
});
