import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import { stringify } from 'yaml';
import { manifestPath, spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir } from '../helpers/shared.js';
import { runScript } from './run-script.js';

const provision = (args: string[]): Promise<{ code: number; out: string }> => runScript('provision.sh', args);
const sha256 = async (file: string): Promise<string> => createHash('sha256').update(await readFile(file)).digest('hex');
const mode = async (file: string): Promise<number> => (await stat(file)).mode & 0o777;

/**
 * A model server standing in for the vendor's: serves ../shared/models over HTTP, asks for a
 * password under /private/, and counts requests so a test can see that nothing was downloaded.
 */
async function modelServer(t: { after(fn: () => Promise<void>): void }): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(url);
    let rel = url;
    if (url.startsWith('/private/')) {
      if (req.headers.authorization !== `Basic ${Buffer.from('tech:s3cret-pw').toString('base64')}`) {
        res.writeHead(401).end();
        return;
      }
      rel = url.slice('/private'.length);
    }
    const file = sharedPath('models', ...rel.split('/').filter((p) => p !== '' && p !== '..'));
    const stream = createReadStream(file);
    stream.once('open', () => { res.writeHead(200, { 'content-type': 'application/octet-stream' }); stream.pipe(res); });
    stream.once('error', () => res.writeHead(404).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** A config already on the device naming both detectors (as the operator writes it); provisioning keeps it. */
async function configWithModels(root: string): Promise<void> {
  await mkdir(path.join(root, 'etc', 'vigil'), { recursive: true });
  await writeFile(path.join(root, 'etc', 'vigil', 'vigil.yaml'), stringify({
    device: { id: 'cam-5', site: 'yard' }, storage: { dir: '/var/lib/vigil' }, mqtt: { url: 'mqtt://127.0.0.1:1883' },
    models_dir: '/var/lib/vigil/models',
    models: [{ name: 'yolox-nano', manifest: manifestPath('yolox-nano') }, { name: 'nanodet-m', manifest: manifestPath('nanodet-m') }],
  }));
}

void test('provision: models fetched from a URL and from the bundle, sha256-verified, prepared; a re-run downloads nothing', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const root = await tempDir(t, 'vigil-root-');
  await configWithModels(root);
  const server = await modelServer(t);
  const models = (...p: string[]): string => sharedPath('models', ...p);
  // The bundle: identity, the list, and the NanoDet files themselves; YOLOX comes from the server.
  const pack = path.join(dir, 'pack');
  await mkdir(path.join(pack, 'files'), { recursive: true });
  await copyFile(models('nanodet-m', 'model.onnx'), path.join(pack, 'files', 'nanodet.onnx'));
  await copyFile(models('nanodet-m', 'labels.txt'), path.join(pack, 'files', 'nanodet-labels.txt'));
  const list = [
    '# path  sha256  source',
    `yolox-nano/model.onnx  ${await sha256(models('yolox-nano', 'model.onnx'))}  ${server.url.replace('//', '//tech:s3cret-pw@')}/private/yolox-nano/model.onnx`,
    `yolox-nano/labels.txt  ${await sha256(models('yolox-nano', 'labels.txt'))}  ${server.url}/yolox-nano/labels.txt`,
    `nanodet-m/model.onnx   ${await sha256(models('nanodet-m', 'model.onnx'))}  files/nanodet.onnx`,
    `nanodet-m/labels.txt   ${await sha256(models('nanodet-m', 'labels.txt'))}  files/nanodet-labels.txt`,
  ];
  await writeFile(path.join(pack, 'models.list'), `${list.join('\n')}\n`);
  await writeFile(path.join(pack, 'provision.env'), 'device_id=cam-5\nsite=yard\nhub=mqtt://127.0.0.1:1883\n');
  const bundle = path.join(dir, 'cam-5.tar');
  execFileSync('tar', ['-cf', bundle, '-C', pack, 'provision.env', 'models.list', 'files']);
  const args = ['--bundle', bundle, '--root', root, '--no-systemctl', '--no-doctor'];

  const dry = await provision([...args, '--dry-run']);
  assert.equal(dry.code, 0, dry.out);
  assert.match(dry.out, /^ {2}would create \/var\/lib\/vigil\/models \(0750\)$/m);
  assert.match(dry.out, /^ {2}would fetch \/var\/lib\/vigil\/models\/yolox-nano\/model\.onnx from http:\/\/\*\*\*@127\.0\.0\.1:\d+\/private\/yolox-nano\/model\.onnx \(0640, sha256 [0-9a-f]{12}…\)$/m);
  assert.match(dry.out, /^ {2}would fetch \/var\/lib\/vigil\/models\/nanodet-m\/labels\.txt from files\/nanodet-labels\.txt/m);
  assert.match(dry.out, /^ {2}models {3}4 files listed, 0 already verified$/m);
  assert.match(dry.out, /^ {2}engines {2}not run in a dry run$/m);
  assert.equal(server.requests.length, 0, 'a dry run downloads nothing');
  assert.equal(await stat(path.join(root, 'var')).catch(() => null), null, 'a dry run writes nothing');

  const real = await provision(args);
  assert.equal(real.code, 0, real.out);
  assert.doesNotMatch(real.out, /s3cret/, 'the password in the URL is never printed');
  const dest = path.join(root, 'var', 'lib', 'vigil', 'models');
  assert.equal(await mode(dest), 0o750);
  for (const [name, file] of [['yolox-nano', 'model.onnx'], ['yolox-nano', 'labels.txt'], ['nanodet-m', 'model.onnx'], ['nanodet-m', 'labels.txt']] as const) {
    const installed = path.join(dest, name, file);
    assert.equal(await sha256(installed), await sha256(models(name, file)), `${name}/${file}`);
    assert.equal(await mode(installed), 0o640, `${name}/${file}`);
  }
  assert.deepEqual((await readdir(dest, { recursive: true })).filter((f) => f.endsWith('.part')), [], 'no partial file left');
  assert.match(real.out, /^ {2}models {3}4 files verified \(sha256\), 4 fetched$/m);
  // The daemon's own loader ran both models with the config's providers: CPU here, so no engine.
  assert.match(real.out, /^ {2}OK {4}yolox-nano {2}provider cpu, loaded in \d+ ms .*warm inference [\d.]+ ms; no engine to build on cpu \(TensorRT only\)$/m);
  assert.match(real.out, /^ {2}OK {4}nanodet-m {2}provider cpu/m);
  assert.match(real.out, /^ {2}engines {2}ready: yolox-nano on cpu, nanodet-m on cpu$/m);
  assert.match(real.out, /^ {2}alert {4}skipped \(root is .*--socket to use one\)$/m);
  assert.match(real.out, /\nprovision: PASS\n/);
  assert.equal(server.requests.filter((r) => r.startsWith('/private/')).length, 1, 'the password was sent as Basic authorization');

  const before = server.requests.length;
  const again = await provision(args);
  assert.equal(again.code, 0, again.out);
  assert.match(again.out, /changes {2}nothing changed \(already provisioned\)/);
  assert.match(again.out, /^ {2}model yolox-nano\/model\.onnx: present, sha256 verified$/m);
  assert.equal(server.requests.length, before, 'files already verified are not downloaded again');
});

void test('provision: a download that does not match its sha256 is never installed, and the run fails', { timeout: 60_000 }, async (t) => {
  const root = await tempDir(t, 'vigil-root-');
  const server = await modelServer(t);
  const wrong = 'f'.repeat(64);
  const r = await provision(['--device-id', 'cam-5', '--site', 'yard', '--hub', 'mqtt://127.0.0.1:1883', '--root', root, '--no-systemctl', '--no-doctor',
    '--model', `yolox-nano/model.onnx ${wrong} ${server.url}/yolox-nano/model.onnx`,
    '--model', `yolox-nano/labels.txt ${'0'.repeat(64)} ${server.url}/yolox-nano/missing.txt`]);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, new RegExp(`^ {2}FAIL model yolox-nano/model\\.onnx: sha256 mismatch: expected ${wrong}, got [0-9a-f]{64} \\(from http://127\\.0\\.0\\.1:\\d+/yolox-nano/model\\.onnx\\); not installed$`, 'm'));
  assert.match(r.out, /^ {2}FAIL model yolox-nano\/labels\.txt: cannot get .*HTTP 404/m);
  assert.equal(await stat(path.join(root, 'var', 'lib', 'vigil', 'models', 'yolox-nano', 'model.onnx')).catch(() => null), null);
  assert.match(r.out, /^ {2}engines {2}not run: models are missing$/m);
  assert.match(r.out, /\nprovision: FAIL\n/);

  const bad = await provision(['--device-id', 'cam-5', '--site', 'yard', '--hub', 'mqtt://h:1883', '--root', root, '--model', `../etc/passwd ${wrong} http://x/y`]);
  assert.equal(bad.code, 2, bad.out);
  assert.match(bad.out, /models line 1 \('\.\.\/etc\/passwd'\): the path must be relative, inside the models dir/);
});

void test('provision: the test alert through a running daemon, PASS with a hub that acks, WARN (still PASS) without', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const root = await tempDir(t, 'vigil-root-');
  const broker = await startMosquitto(t);
  const socket = path.join(dir, 'vigild.sock');
  const config = await writeConfig(dir, {
    device: { id: 'cam-6', site: 'yard' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
    telemetry: { prometheus: { enabled: false } },
  });
  const vigild = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 30_000);
  const hub = await connectAsync(broker.url, { protocolVersion: 5 });
  t.after(() => hub.endAsync());
  hub.on('message', (_topic, payload) => {
    const alert = JSON.parse(payload.toString()) as { id: string; test?: boolean };
    if (alert.test === true) hub.publish('vigil/v1/yard/cam-6/ack', JSON.stringify({ schema: 'vigil.ack/1', event_id: alert.id }), { qos: 1 });
  });
  await hub.subscribeAsync('vigil/v1/yard/cam-6/alerts', { qos: 1 });

  const args = ['--device-id', 'cam-6', '--site', 'yard', '--hub', broker.url, '--root', root, '--no-systemctl', '--no-doctor', '--socket', socket];
  const ok = await provision(args);
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /^ {2}OK {4}hub ack {3}the hub acknowledged it after/m);
  assert.match(ok.out, /^ {2}alert {4}PASS: the broker and the hub acknowledged it$/m);

  await hub.unsubscribeAsync('vigil/v1/yard/cam-6/alerts');
  const warn = await provision([...args, '--test-alert-timeout', '1']);
  assert.equal(warn.code, 0, `a hub that does not consume is a warning, not a failed device:\n${warn.out}`);
  assert.match(warn.out, /^ {2}alert {4}WARN: the broker acknowledged it, the hub did not within 1 s/m);
  assert.match(warn.out, /\nprovision: PASS\n/);

  await vigild.stop();
  const down = await provision([...args, '--test-alert-timeout', '1']);
  assert.equal(down.code, 1, down.out);
  assert.match(down.out, /^ {2}alert {4}FAIL: vigild did not answer on /m);
});
