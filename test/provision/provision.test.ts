import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { freePort, startMosquitto } from '../helpers/mosquitto.js';
import { repoRoot, tempDir } from '../helpers/shared.js';
import { runScript } from './run-script.js';

const provision = (args: string[]): Promise<{ code: number; out: string }> => runScript('provision.sh', args);

function selfSigned(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string): string => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '30', '-subj', '/CN=ca'], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', f('device.key'), '-out', f('device.pem'), '-days', '30', '-subj', '/CN=cam-1'], { stdio: 'ignore' });
  return { ca: f('ca.pem'), cert: f('device.pem'), key: f('device.key') };
}

/** Every file and directory under root with its mode and mtime, to show that nothing was touched. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const entries = await readdir(root, { recursive: true });
  const snap = new Map<string, string>();
  for (const rel of entries.sort()) {
    const s = await stat(path.join(root, rel));
    snap.set(rel, `${(s.mode & 0o777).toString(8)} ${s.mtimeMs}`);
  }
  return snap;
}

const mode = async (file: string): Promise<number> => (await stat(file)).mode & 0o777;

void test('provision: a dry run writes nothing, a real run installs everything, a second run changes nothing', { timeout: 120_000 }, async (t) => {
  const root = await tempDir(t, 'vigil-root-');
  const certs = selfSigned(await tempDir(t));
  const args = ['--device-id', 'cam-017', '--site', 'depot-3', '--hub', 'mqtts://hub.example.net:8883',
    '--ca', certs.ca, '--cert', certs.cert, '--key', certs.key, '--root', root, '--no-systemctl', '--no-doctor'];

  const dry = await provision([...args, '--dry-run']);
  assert.equal(dry.code, 0, dry.out);
  for (const line of ['would create /etc/vigil (1775)', 'would create /var/lib/vigil (0750)', 'would write /etc/vigil/ca.pem (0640)',
    'would write /etc/vigil/device.key (0640)', 'would write /etc/vigil/vigil.yaml (0640)', 'would write /etc/systemd/system/vigild.service (0644)',
    'would write /etc/systemd/system/vigild.service.d/live-config.conf (0644)']) {
    assert.ok(dry.out.includes(line), `dry run does not say "${line}":\n${dry.out}`);
  }
  assert.match(dry.out, /provision: DRY RUN\n/);
  assert.deepEqual(await readdir(root), [], 'a dry run wrote something');

  const real = await provision(args);
  assert.equal(real.code, 0, real.out);
  assert.match(real.out, /\nprovision: PASS\n/);
  assert.match(real.out, /changes {2}\d+ changes made/);
  const etc = path.join(root, 'etc', 'vigil');
  // Sticky and group-writable: the daemon may replace vigil.yaml (live management), not the key.
  assert.equal((await stat(etc)).mode & 0o7777, 0o1775);
  const dropIn = await readFile(path.join(root, 'etc', 'systemd', 'system', 'vigild.service.d', 'live-config.conf'), 'utf8');
  assert.match(dropIn, /^\[Service\]\nReadWritePaths=\/etc\/vigil\n/m);
  assert.equal(await mode(path.join(root, 'var', 'lib', 'vigil')), 0o750);
  for (const f of ['vigil.yaml', 'ca.pem', 'device.pem', 'device.key']) assert.equal(await mode(path.join(etc, f)), 0o640, f);
  assert.equal(await readFile(path.join(etc, 'device.key'), 'utf8'), await readFile(certs.key, 'utf8'));
  const unit = path.join(root, 'etc', 'systemd', 'system', 'vigild.service');
  assert.equal(await mode(unit), 0o644);
  assert.equal(await readFile(unit, 'utf8'), await readFile(path.join(repoRoot, 'systemd', 'vigild.service'), 'utf8'));
  const cfg = parse(await readFile(path.join(etc, 'vigil.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  assert.deepEqual(cfg['device'], { id: 'cam-017', site: 'depot-3' });
  // Device paths, not the temporary root: the file is read on the device.
  assert.deepEqual(cfg['mqtt'], { url: 'mqtts://hub.example.net:8883', ca: '/etc/vigil/ca.pem', cert: '/etc/vigil/device.pem', key: '/etc/vigil/device.key' });
  // No models listed and none configured; no daemon of this system to send a test alert through.
  assert.match(real.out, /^ {2}models {3}none listed/m);
  assert.match(real.out, /^ {2}engines {2}no models configured/m);
  assert.match(real.out, /^ {2}alert {4}skipped \(root is /m);
  assert.doesNotMatch(real.out, /TODO/);

  const check = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'daemon', 'launcher.cjs'), '--config', path.join(etc, 'vigil.yaml'), '--check-config', '--root', root], { encoding: 'utf8' });
  assert.equal(check.status, 0, `vigild --check-config refused the written config: ${check.stdout}${check.stderr}`);
  assert.match(check.stdout, /valid/);

  const before = await snapshot(root);
  const again = await provision(args);
  assert.equal(again.code, 0, again.out);
  assert.match(again.out, /changes {2}nothing changed \(already provisioned\)/);
  assert.doesNotMatch(again.out, /^ {2}(write|update|create|chmod|chown) /m);
  assert.deepEqual(await snapshot(root), before, 'a second run touched files');

  // Live management is a choice: --read-only-config takes it back.
  const ro = await provision([...args, '--read-only-config']);
  assert.equal(ro.code, 0, ro.out);
  assert.match(ro.out, /^ {2}chmod 0755 \/etc\/vigil \(was 1775\)$/m);
  assert.match(ro.out, /^ {2}remove \/etc\/systemd\/system\/vigild\.service\.d\/live-config\.conf \(--read-only-config\)$/m);
  assert.equal((await stat(etc)).mode & 0o7777, 0o755);
  assert.equal(await stat(path.join(root, 'etc', 'systemd', 'system', 'vigild.service.d', 'live-config.conf')).catch(() => null), null);
});

void test('provision: re-provisioning keeps the operator\'s streams, rules and comments; bad arguments are usage errors', { timeout: 60_000 }, async (t) => {
  const root = await tempDir(t, 'vigil-root-');
  await mkdir(path.join(root, 'etc', 'vigil'), { recursive: true });
  const original = [
    '# gate camera added by J. on the ladder',
    'device: { id: cam-017, site: depot-3 }',
    'mqtt:',
    '  url: mqtt://old-hub:1883',
    '  keepalive_s: 60',
    'streams:',
    '  - { id: gate, uri: "rtsp://10.0.0.21/stream1", fps: 5 }',
    'rules:',
    '  - { id: person-at-gate, stream: gate, kind: presence, classes: [person] }',
    '',
  ].join('\n');
  await writeFile(path.join(root, 'etc', 'vigil', 'vigil.yaml'), original);
  const r = await provision(['--device-id', 'cam-017', '--site', 'depot-3', '--hub', 'mqtt://new-hub:1883', '--root', root, '--no-systemctl', '--no-doctor']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /update \/etc\/vigil\/vigil\.yaml/);
  assert.match(r.out, /^ +- {2}url: mqtt:\/\/old-hub:1883\n +\+ {2}url: mqtt:\/\/new-hub:1883$/m, 'the change is shown as a diff');
  const text = await readFile(path.join(root, 'etc', 'vigil', 'vigil.yaml'), 'utf8');
  assert.match(text, /^# gate camera added by J\. on the ladder/);
  const cfg = parse(text) as { mqtt: Record<string, unknown>; streams: { id: string }[]; rules: { id: string }[] };
  assert.deepEqual(cfg.mqtt, { url: 'mqtt://new-hub:1883', keepalive_s: 60 });
  assert.deepEqual(cfg.streams.map((s) => s.id), ['gate']);
  assert.deepEqual(cfg.rules.map((x) => x.id), ['person-at-gate']);

  const bad = await provision(['--device-id', 'cam 017', '--site', 'depot-3', '--hub', 'mqtt://h:1883', '--root', root]);
  assert.equal(bad.code, 2);
  assert.match(bad.out, /--device-id: expected/);
  const noHub = await provision(['--device-id', 'cam-017', '--site', 'depot-3', '--hub', 'http://h', '--root', root]);
  assert.equal(noHub.code, 2);
});

void test('provision: from a bundle, with doctor: PASS against a live hub, FAIL against a dead one', { timeout: 120_000 }, async (t) => {
  const root = await tempDir(t, 'vigil-root-');
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const certs = selfSigned(dir);
  const pack = path.join(dir, 'pack');
  await mkdir(pack);
  await writeFile(path.join(pack, 'provision.env'), `device_id=cam-9\nsite=lab\nhub=${broker.url}\n`);
  execFileSync('cp', [certs.ca, certs.cert, certs.key, pack]);
  const bundle = path.join(dir, 'cam-9.tar');
  execFileSync('tar', ['-cf', bundle, '-C', pack, 'provision.env', 'ca.pem', 'device.pem', 'device.key']);
  const certRoot = await tempDir(t, 'vigil-root-');
  const fromBundle = await provision(['--bundle', bundle, '--root', certRoot, '--no-systemctl', '--no-doctor']);
  assert.equal(fromBundle.code, 0, fromBundle.out);
  assert.match(fromBundle.out, /^provision: cam-9 at lab, hub mqtt:\/\/127\.0\.0\.1:\d+/);
  for (const f of ['ca.pem', 'device.pem', 'device.key']) {
    const installed = path.join(certRoot, 'etc', 'vigil', f);
    assert.equal(await readFile(installed, 'utf8'), await readFile(path.join(pack, f), 'utf8'), f);
    assert.equal(await mode(installed), 0o640, `${f}: the archive's mode is not kept`);
  }
  assert.match(await readFile(path.join(certRoot, 'etc', 'vigil', 'vigil.yaml'), 'utf8'), /key: \/etc\/vigil\/device\.key/);

  // Doctor reads the written config, whose certificate paths name the device's /etc/vigil: so in a
  // temporary root it is run with a bundle that carries identity only.
  const identity = path.join(dir, 'identity.tar');
  execFileSync('tar', ['-cf', identity, '-C', pack, 'provision.env']);
  const ok = await provision(['--bundle', identity, '--root', root, '--no-systemctl']);
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /^ {2}OK {4}broker /m, 'doctor ran against the config it wrote');
  assert.match(ok.out, /doctor {3}healthy/);
  assert.match(ok.out, /\nprovision: PASS\n/);

  // A flag beats the bundle's value: here, a hub nobody listens on.
  const dead = await provision(['--bundle', identity, '--hub', `mqtt://127.0.0.1:${await freePort()}`, '--root', root, '--no-systemctl']);
  assert.equal(dead.code, 1, dead.out);
  assert.match(dead.out, /^ {2}FAIL {2}broker /m);
  assert.match(dead.out, /\nprovision: FAIL\n/);
});
