import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import { makePki, type CertFiles } from '../helpers/certs.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { repoRoot, tempDir, waitFor } from '../helpers/shared.js';

const VIGILCTL = path.join(repoRoot, 'dist', 'cli', 'main.js');

/** The example broker of docs/mosquitto (TLS, client certificates, the example ACL) on a free port. */
function exampleBroker(): { lines: string[]; acl: string } {
  const conf = readFileSync(path.join(repoRoot, 'docs', 'mosquitto', 'mosquitto.conf'), 'utf8');
  const lines = conf.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !l.startsWith('persistence'))
    .map((l) => l.replaceAll('/etc/mosquitto/vigil/', '{dir}/').replace(/^listener 8883$/, 'listener {port} 127.0.0.1'));
  return { lines, acl: readFileSync(path.join(repoRoot, 'docs', 'mosquitto', 'acl'), 'utf8') };
}

interface Run { code: number | null; out: string; err: string }

/** The built vigilctl as a process, with `env` on top of an environment free of VIGIL_* variables. */
function vigilctl(args: string[], env: Record<string, string>): { done: Promise<Run>; stderr: () => string; kill: () => void } {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')));
  const child = spawn(process.execPath, [VIGILCTL, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<Run>((resolve) => child.once('exit', (code) => resolve({ code, out, err })));
  return { done, stderr: () => err, kill: () => child.kill('SIGTERM') };
}

void test('vigilctl hub fl run reaches the docs\' TLS broker with VIGIL_HUB_* or --ca/--cert/--key, and says why not without them', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const pki = makePki(dir, { broker: { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' }, hub: { cn: 'hub' }, device: { cn: 'lab/cam-1' } });
  const L = pki.leaves as Record<'broker' | 'hub' | 'device', CertFiles>;
  const example = exampleBroker();
  const broker = await startMosquitto(t, {
    listener: { lines: example.lines, scheme: 'mqtts' },
    files: { acl: example.acl, 'ca.pem': readFileSync(pki.ca, 'utf8'), 'broker.pem': readFileSync(L.broker.cert, 'utf8'), 'broker.key': readFileSync(L.broker.key, 'utf8') },
  });
  const keys = await tempDir(t);
  const keygen = vigilctl(['hub', 'fl', 'keygen', '--out', keys], {});
  assert.equal((await keygen.done).code, 0);
  const registry = path.join(dir, 'devices.yaml');
  const devicePub = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
  writeFileSync(registry, `devices:\n  cam-1: |\n${devicePub.trim().split('\n').map((l) => `    ${l}`).join('\n')}\n`);
  const common = ['hub', 'fl', 'run', '--site', 'lab', '--registry', registry,
    '--sign-key', path.join(keys, 'hub-sign.key'), '--decrypt-key', path.join(keys, 'hub-encrypt.key')];

  // A device of the site, through the same ACL, sees the global model the aggregator publishes.
  const device = await connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0, ca: readFileSync(pki.ca), cert: readFileSync(L.device.cert), key: readFileSync(L.device.key) }, false);
  t.after(() => device.endAsync(true));
  const models: { round: number }[] = [];
  device.on('message', (_topic, payload) => models.push(JSON.parse(payload.toString()) as { round: number }));
  await device.subscribeAsync('vigil/v1/lab/fl/model', { qos: 1 });

  // The operator's environment, as for remote management (cli/remote/options.ts).
  const viaEnv = vigilctl(common, { VIGIL_HUB: broker.url, VIGIL_HUB_CA: pki.ca, VIGIL_HUB_CERT: L.hub.cert, VIGIL_HUB_KEY: L.hub.key });
  t.after(() => viaEnv.kill());
  await waitFor('the aggregator to run', () => (viaEnv.stderr().includes('federated aggregator running') ? true : undefined), 30_000);
  await waitFor('the global model at the device', () => (models.length > 0 ? true : undefined), 10_000);
  assert.equal(models[0]?.round, 0);
  viaEnv.kill();
  const first = await viaEnv.done;
  assert.equal(first.code, 0, first.err);
  assert.doesNotMatch(first.err, /"level":"warn"/, 'no mqtt error while it ran');

  // The same with flags.
  const viaFlags = vigilctl([...common, '--url', broker.url, '--ca', pki.ca, '--cert', L.hub.cert, '--key', L.hub.key], {});
  t.after(() => viaFlags.kill());
  await waitFor('the aggregator to run with flags', () => (viaFlags.stderr().includes('federated aggregator running') ? true : undefined), 30_000);
  viaFlags.kill();
  assert.equal((await viaFlags.done).code, 0);

  // Without the CA: an exit with the reason, not a hang or a stack trace.
  const noCa = await vigilctl([...common, '--url', broker.url, '--cert', L.hub.cert, '--key', L.hub.key], {}).done;
  assert.equal(noCa.code, 3, noCa.err);
  assert.match(noCa.err, /cannot reach the broker mqtts:\/\/127\.0\.0\.1:\d+: .*certificate/);
  // A missing file is a usage error naming the flag.
  const badKey = await vigilctl([...common, '--url', broker.url, '--ca', pki.ca, '--cert', L.hub.cert, '--key', path.join(dir, 'nope.key')], {}).done;
  assert.equal(badKey.code, 2, badKey.err);
  assert.match(badKey.err, /--key .*nope\.key: ENOENT/);
  const noUrl = await vigilctl(common, {}).done;
  assert.equal(noUrl.code, 2);
  assert.match(noUrl.err, /--url URL \(or VIGIL_HUB\) is needed/);
});
