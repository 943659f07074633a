import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { methodAccess, requestSchema } from '../../daemon/control/protocol.js';
import { spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { repoRoot, tempDir } from '../helpers/shared.js';
import { vigilctl } from '../helpers/vigilctl.js';

void test('through the hub: config get is a read-only remote method; a signed events ack is stored as the operator who signed it', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const aliceKey = path.join(dir, 'alice.pem');
  const made = await vigilctl(['keygen', '--out', aliceKey, '--name', 'alice']);
  assert.equal(made.code, 0, made.err);
  const pub = /public_key: "([^"]+)"/.exec(made.out)?.[1];
  assert.ok(pub, made.out);
  const socket = path.join(dir, 'vigild.sock');
  const config = await writeConfig(dir, {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
    telemetry: { interval_s: 3600, prometheus: { enabled: false } },
    remote: { operators: [{ name: 'alice', public_key: pub }] },
  });
  const vigild = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 30_000);
  const remote = ['--hub', broker.url, '--device', 'lab/cam-1', '--timeout', '10'];

  // Unsigned (remote.allow_unsigned_read defaults to true) and signed.
  const unsigned = await vigilctl([...remote, 'config', 'get', 'mqtt.url']);
  assert.equal(unsigned.code, 0, unsigned.err);
  assert.equal(unsigned.out, broker.url);
  const signed = await vigilctl([...remote, '--operator-key', aliceKey, 'config', 'get', 'device', '--json']);
  assert.equal(signed.code, 0, signed.err);
  assert.deepEqual((JSON.parse(signed.out) as { value: unknown }).value, { id: 'cam-1', site: 'lab' });
  // What reads a local file stays local, and says so.
  const validate = await vigilctl([...remote, 'config', 'validate', config]);
  assert.equal(validate.code, 2);
  assert.match(validate.err, /"config validate" works on this machine only/);

  // An event to review: a test alert, recorded by the daemon.
  const alert = await vigilctl(['test-alert', '--socket', socket, '--timeout', '1', '--json']);
  const eventId = (JSON.parse(alert.out) as { event_id: string }).event_id;
  const ack = await vigilctl([...remote, '--operator-key', aliceKey, 'events', 'ack', eventId, '--verdict', 'false_alarm', '--json']);
  assert.equal(ack.code, 0, ack.err);
  assert.equal((JSON.parse(ack.out) as { source: string }).source, 'hub:alice', 'the operator who signed, not the local user of the desk');
  const shown = await vigilctl(['events', 'show', eventId, '--socket', socket, '--json']);
  assert.equal((JSON.parse(shown.out) as { review: { source: string } }).review.source, 'hub:alice');
  // Locally the desk's user, as before.
  const local = await vigilctl(['events', 'ack', eventId, '--verdict', 'true_alarm', '--socket', socket, '--json']);
  assert.match((JSON.parse(local.out) as { source: string }).source, /^vigilctl:/);
});

void test('docs/remote-management.md lists every method of the protocol, with its access', async () => {
  const doc = await readFile(path.join(repoRoot, 'docs', 'remote-management.md'), 'utf8');
  const listed = new Map([...doc.matchAll(/^\| `([a-z_]+\.?[a-z_]*)` \| (read|change) \|/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
  const methods = requestSchema.options.map((o) => o.shape.method.value);
  assert.deepEqual([...listed.keys()].sort(), [...methods].sort(), 'the table and the protocol name different methods');
  for (const m of methods) assert.equal(listed.get(m), methodAccess(m), `${m}: the table says ${listed.get(m) ?? '?'}`);
});
