import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { connectAsync } from 'mqtt';
import { parse } from 'yaml';
import { spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';
import { makePki, type CertFiles } from '../helpers/certs.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';
import { readmeSection, fencedBlocks } from './readme-text.js';

const run = promisify(execFile);
/** The caller's environment without VIGIL_* variables, which would move the config's paths. */
const withoutVigilEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')));
const sha256 = async (file: string): Promise<string> => createHash('sha256').update(await readFile(file)).digest('hex');

/**
 * README "Provisioning a device": its command, as written, in a temporary root, against a real TLS
 * broker and a running daemon that stands in for the device's; what it prints must be the README's
 * sample output (the hub URL aside). A README change without the behaviour, or the other way round,
 * fails here.
 */
void test('README "Provisioning a device": the command as written ends with the sample output', { timeout: 180_000 }, async (t) => {
  const section = await readmeSection('Provisioning a device');
  const [commands, sample] = fencedBlocks(section);
  assert.ok(commands !== undefined && sample !== undefined, 'the section has a command block and a sample output block');
  // The first command, continuation lines joined, its trailing comment dropped.
  const first = (commands.split(/\n(?!\s)/)[0] ?? '').replace(/\\\n\s*/g, ' ').replace(/#.*$/, '').trim();
  const words = first.split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ['sudo', '/opt/vigil/scripts/provision.sh'], first);
  const README_HUB = words[words.indexOf('--hub') + 1] ?? '';
  assert.match(README_HUB, /^mqtts:\/\//);

  // What the technician has in the current directory: the certificates and a models list with its files.
  const cwd = await tempDir(t);
  const root = await tempDir(t, 'vigil-root-');
  const pki = makePki(cwd, { broker: { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' }, device: { cn: 'depot-3/cam-017' }, hub: { cn: 'hub' } });
  const L = pki.leaves as Record<'broker' | 'device' | 'hub', CertFiles>;
  await mkdir(path.join(cwd, 'files'));
  const list: string[] = [];
  for (const f of ['model.onnx', 'labels.txt']) {
    await copyFile(sharedPath('models', 'yolox-nano', f), path.join(cwd, 'files', f));
    list.push(`yolox-nano/${f}  ${await sha256(path.join(cwd, 'files', f))}  files/${f}`);
  }
  await writeFile(path.join(cwd, 'models.list'), `${list.join('\n')}\n`);

  const broker = await startMosquitto(t, {
    listener: {
      scheme: 'mqtts',
      lines: ['listener {port} 127.0.0.1', 'cafile {dir}/ca.pem', 'certfile {dir}/broker.pem', 'keyfile {dir}/broker.key',
        'require_certificate true', 'allow_anonymous true'],
    },
    files: { 'ca.pem': await readFile(pki.ca, 'utf8'), 'broker.pem': await readFile(L.broker.cert, 'utf8'), 'broker.key': await readFile(L.broker.key, 'utf8') },
  });
  // The device's daemon, for the test alert, and the hub application that acknowledges alerts.
  const state = path.join(cwd, 'state');
  const socket = path.join(cwd, 'vigild.sock');
  const config = await writeConfig(cwd, {
    device: { id: 'cam-017', site: 'depot-3' }, storage: { dir: state },
    mqtt: { url: broker.url, ca: pki.ca, cert: L.device.cert, key: L.device.key }, telemetry: { prometheus: { enabled: false } },
  });
  const vigild = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 30_000);
  const hub = await connectAsync(broker.url, { protocolVersion: 5, ca: await readFile(pki.ca), cert: await readFile(L.hub.cert), key: await readFile(L.hub.key) });
  t.after(() => hub.endAsync());
  hub.on('message', (_topic, payload) => {
    const alert = JSON.parse(payload.toString()) as { id: string; test?: boolean };
    if (alert.test === true) hub.publish('vigil/v1/depot-3/cam-017/ack', JSON.stringify({ schema: 'vigil.ack/1', event_id: alert.id }), { qos: 1 });
  });
  await hub.subscribeAsync('vigil/v1/depot-3/cam-017/alerts', { qos: 1 });

  const args = words.slice(2).map((w) => (w === README_HUB ? broker.url : w));
  let out: string;
  try {
    const r = await run('bash', [path.join(repoRoot, 'scripts', 'provision.sh'), ...args, '--root', root, '--socket', socket],
      { cwd, timeout: 150_000, env: withoutVigilEnv() });
    out = r.stdout + r.stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    assert.fail(`provision.sh failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  const summary = out.slice(out.lastIndexOf('\nprovision: ') + 1).trimEnd();
  assert.equal(summary, sample.trimEnd().replace(README_HUB, broker.url), `the README's sample output is not what the run printed:\n${out}`);
  // Doctor looked inside the root, not at this machine's /etc/vigil and /var/lib.
  assert.match(out, new RegExp(`^ {2}(OK|WARN) +certificate:ca +${root}/etc/vigil/ca\\.pem`, 'm'));
  assert.match(out, new RegExp(`^ {2}OK {4}disk .* at ${root}/var/lib/vigil$`, 'm'));
  assert.match(out, /^ {2}OK {4}broker /m);
  // The fetched model is the one the config loads.
  const written = parse(await readFile(path.join(root, 'etc', 'vigil', 'vigil.yaml'), 'utf8')) as { models: unknown; models_dir: string };
  assert.deepEqual(written.models, [{ name: 'yolox-nano', manifest: path.join(repoRoot, 'models', 'yolox-nano.json') }]);
  assert.equal(written.models_dir, '/var/lib/vigil/models');
});
