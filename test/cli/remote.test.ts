import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadOperatorKey } from '../../cli/remote/route.js';
import { configSchema } from '../../daemon/config/schema.js';
import { Auditor } from '../../daemon/control/audit.js';
import { Authoriser } from '../../daemon/control/authoriser.js';
import { handleRequest } from '../../daemon/control/handler.js';
import { NonceCache } from '../../daemon/control/nonce-cache.js';
import { signRequest } from '../../daemon/control/signature.js';
import { silentLogger } from '../../daemon/log.js';
import { freePort } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/shared.js';
import { vigilctl } from '../helpers/vigilctl.js';
import { settled } from '../helpers/replies.js';

test('keygen: a private key only its owner reads, and a public key the device config accepts and verifies', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'alice.pem');
  const made = await vigilctl(['keygen', '--out', file, '--name', 'alice']);
  assert.equal(made.code, 0, made.err);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const pub = /public_key: "([^"]+)"/.exec(made.out)?.[1];
  assert.ok(pub, made.out);
  const again = await vigilctl(['keygen', '--out', file]);
  assert.equal(again.code, 1);
  assert.match(again.err, /exists; --force replaces it/);
  assert.equal(readFileSync(file, 'utf8').length > 0, true);

  // What keygen printed, pasted into a device's config, verifies what the key file signs.
  const cfg = configSchema.parse({ device: { id: 'cam-1', site: 'lab' }, mqtt: { url: 'mqtt://x' },
    remote: { operators: [{ name: 'alice', public_key: pub }] } });
  const log = silentLogger();
  const authoriser = new Authoriser({ device: cfg.device, config: cfg.remote, log, nonces: new NonceCache({ file: null, log }),
    auditor: new Auditor(() => undefined, 10, log) });
  const body = { id: 'r', method: 'restart', auth: signRequest(loadOperatorKey(file), { target: 'lab/cam-1', method: 'restart', id: 'r', params: undefined }) };
  let restarted = 0;
  const reply = settled(handleRequest({ status: () => null, listEvents: () => [], restart: () => ++restarted }, body, log, authoriser.remoteGate));
  assert.equal(reply.status, 'ok', JSON.stringify(reply));
  assert.equal(restarted, 1);

  const bad = configSchema.safeParse({ device: { id: 'cam-1', site: 'lab' }, mqtt: { url: 'mqtt://x' },
    remote: { operators: [{ name: 'alice', public_key: 'AAAA' }] } });
  assert.equal(bad.success, false);
  assert.match(bad.error?.issues[0]?.path.join('.') ?? '', /^remote\.operators\.0\.public_key$/);
});

test('remote usage errors exit 2; an unreachable hub exits 3', async () => {
  const noHub = await vigilctl(['--device', 'lab/cam-1', 'status']);
  assert.equal(noHub.code, 2);
  assert.match(noHub.err, /--hub URL \(or VIGIL_HUB\) is needed/);
  const badDevice = await vigilctl(['--hub', 'mqtt://127.0.0.1:1', '--device', 'cam-1', 'status']);
  assert.equal(badDevice.code, 2);
  assert.match(badDevice.err, /--device expects SITE\/DEVICE/);
  const fleet = await vigilctl(['fleet', 'ls']);
  assert.equal(fleet.code, 2);
  const after = await vigilctl(['status', '--device', 'lab/cam-1']);
  assert.equal(after.code, 2, 'global options go before the command');

  const port = await freePort();
  const started = performance.now();
  const down = await vigilctl(['--hub', `mqtt://127.0.0.1:${port}`, '--device', 'lab/cam-1', '--timeout', '2', 'status']);
  assert.equal(down.code, 3, down.err);
  assert.match(down.err, new RegExp(`cannot reach the hub mqtt://127\\.0\\.0\\.1:${port}`));
  assert.ok(performance.now() - started < 2500);
  const fan = await vigilctl(['--hub', `mqtt://127.0.0.1:${port}`, '--device', 'lab/*', 'status']);
  assert.equal(fan.code, 3, fan.err);
});
