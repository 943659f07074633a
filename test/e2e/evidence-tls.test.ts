import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../daemon/log.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { evidenceOutbox } from '../../daemon/uplink/evidence-message.js';
import { Uplink } from '../../daemon/uplink/uplink.js';
import { startReceiver } from '../evidence/receiver-process.js';
import { makePki, type CertFiles } from '../helpers/certs.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { repoRoot, tempDir, waitFor } from '../helpers/shared.js';
import { newEvent } from '../store/store-fixtures.js';
import { mqttConfig, stateInfo } from '../uplink/harness.js';

/**
 * Through the example broker configuration (docs/mosquitto: TLS, client certificates, the ACL): a
 * device's snapshot and clip reach `vigilctl hub evidence` running with the hub's certificate.
 * Without the ACL's evidence lines the broker refuses both (PUBACK 135).
 */
test('evidence through a TLS mosquitto with client certificates and the example ACL', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const pki = makePki(dir, { broker: { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' }, cam1: { cn: 'lab/cam-1' }, hub: { cn: 'hub' } });
  const L = pki.leaves as Record<'broker' | 'cam1' | 'hub', CertFiles>;
  const conf = readFileSync(path.join(repoRoot, 'docs', 'mosquitto', 'mosquitto.conf'), 'utf8');
  const lines = conf.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !l.startsWith('persistence'))
    .map((l) => l.replaceAll('/etc/mosquitto/vigil/', '{dir}/').replace(/^listener 8883$/, 'listener {port} 127.0.0.1'));
  const broker = await startMosquitto(t, {
    listener: { lines, scheme: 'mqtts' },
    files: {
      acl: readFileSync(path.join(repoRoot, 'docs', 'mosquitto', 'acl'), 'utf8'), 'ca.pem': readFileSync(pki.ca, 'utf8'),
      'broker.pem': readFileSync(L.broker.cert, 'utf8'), 'broker.key': readFileSync(L.broker.key, 'utf8'),
    },
  });
  const out = path.join(dir, 'hub');
  const receiver = await startReceiver(t, { hub: broker.url, site: 'lab', out, extra: ['--ca', pki.ca, '--cert', L.hub.cert, '--key', L.hub.key] });

  const device = { id: 'cam-1', site: 'lab' };
  const store = EventStore.open(path.join(dir, 'state'));
  t.after(() => store.close());
  store.evidenceOutbox = evidenceOutbox(device, { publish: true });
  const event = store.recordEvent(newEvent(1, 'alert'), alertOutbox(device));
  const files: Record<'snapshot' | 'clip', Buffer> = { snapshot: randomBytes(20_000), clip: randomBytes(200_000) };
  for (const kind of ['snapshot', 'clip'] as const) {
    const file = path.join(dir, 'state', 'evidence', `${event.id}.${kind === 'clip' ? 'mp4' : 'jpg'}`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, files[kind]);
    assert.ok(store.addEvidenceFile({ eventId: event.id, kind, path: file, bytes: files[kind].length,
      sha256: createHash('sha256').update(files[kind]).digest('hex'), width: 1920, height: 1080, createdAt: Date.now() }));
  }
  const uplink = new Uplink({
    config: mqttConfig(broker.url, { ca: pki.ca, cert: L.cam1.cert, key: L.cam1.key }), device, outbox: store, log: silentLogger(), state: stateInfo,
  });
  await uplink.start(new AbortController().signal);
  t.after(() => uplink.stop());
  for (const kind of ['snapshot', 'clip'] as const) {
    const got = await receiver.file(event.id, kind, 30_000);
    assert.ok(got.ok);
    assert.deepEqual(readFileSync(path.join(out, 'cam-1', `${event.id}.${kind === 'clip' ? 'mp4' : 'jpg'}`)), files[kind]);
  }
  await waitFor('the outbox drained', () => (store.outboxStats().depth === 0 ? true : undefined), 20_000);
  assert.equal(uplink.status().failures, 0, 'the broker refused nothing');
});
