import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertSchema } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/shared.js';
import { alertEvent, alertsTopic, captureLogger, mqttConfig, openStore, record, startUplink, subscribe } from './harness.js';

test('a message the broker refuses stays queued, is retried later, and does not hold up the rest', async (t) => {
  // Anonymous clients may use the alerts and state topics only: publishes to the events topic get
  // PUBACK "not authorized" (0x87) under MQTT 5.
  const broker = await startMosquitto(t, {
    extraConfig: ['acl_file {dir}/acl'],
    files: { acl: 'topic readwrite vigil/v1/+/+/alerts\ntopic readwrite vigil/v1/+/+/state\n' },
  });
  const store = await openStore(t);
  const hub = await subscribe(t, broker.url, alertsTopic);
  const { log, lines } = captureLogger();
  const uplink = startUplink(t, { config: mqttConfig(broker.url, { inflight: 2 }), outbox: store, log });
  await waitFor('the uplink to connect', () => uplink.status().connected || undefined);

  // Recorded first, so it would be at the head of the queue if a refusal blocked it.
  const refused = record(store, alertEvent(0, { severity: 'info' }));
  const alerts = [1, 2, 3, 4, 5].map((i) => record(store, alertEvent(i)).id);
  uplink.notify();

  await waitFor('every alert at the hub', () => {
    const got = new Set(hub.messages.map((m) => alertSchema.parse(m.json).id));
    return alerts.every((id) => got.has(id)) || undefined;
  });
  await waitFor('the refused row to be retried', () => (uplink.status().failures >= 2 || undefined));
  const rows = store.peekOutbox(10);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.eventId, refused.id);
  assert.ok((rows[0]?.attempts ?? 0) >= 2);
  assert.equal(store.getEvent(refused.id)?.uplinkedAt, null);
  assert.equal(uplink.status().acked, alerts.length);
  assert.ok(lines.some((l) => l.level === 'warn' && /did not accept/.test(l.msg) && /authori/i.test(String(l['err']))));
  await uplink.stop();
});
