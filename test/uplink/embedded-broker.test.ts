import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EmbeddedBroker } from '../../daemon/demo/embedded-broker.js';
import { alertSchema, stateSchema } from '../../daemon/uplink/payloads.js';
import { Uplink } from '../../daemon/uplink/uplink.js';
import { waitFor } from '../helpers/shared.js';
import {
  alertEvent, alertsTopic, captureLogger, device, mqttConfig, openStore, record, startUplink, stateInfo, stateTopic,
  subscribe,
} from './harness.js';

async function startBroker(t: { after(fn: () => Promise<void>): void }): Promise<EmbeddedBroker> {
  const broker = new EmbeddedBroker();
  t.after(() => broker.stop());
  const url = await broker.start();
  assert.match(url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  return broker;
}

test('the embedded aedes broker carries alerts end to end over MQTT 3.1.1', async (t) => {
  const broker = await startBroker(t);
  const store = await openStore(t);
  const hub = await subscribe(t, broker.url, `vigil/v1/${device.site}/${device.id}/#`, { protocolVersion: 4 });
  const uplink = startUplink(t, { config: mqttConfig(broker.url), outbox: store, protocolVersion: broker.protocolVersion });
  await waitFor('the uplink to connect', () => uplink.status().connected || undefined);

  const event = record(store, alertEvent(1));
  uplink.notify();
  const msg = await waitFor('the alert', () => hub.messages.find((m) => m.topic === alertsTopic));
  const alert = alertSchema.parse(msg.json);
  assert.equal(alert.id, event.id);
  assert.deepEqual(alert.objects, event.payload.objects);
  // MQTT 3.1.1 has no user properties: the id in the payload is what the hub de-duplicates on.
  assert.deepEqual(msg.userProperties, {});
  await waitFor('the outbox to empty', () => store.outboxStats().depth === 0 || undefined);
  const state = hub.messages.find((m) => m.topic === stateTopic);
  assert.equal(state && stateSchema.parse(state.json).state, 'online');
  await uplink.stop();
});

test('aedes 1.x refuses MQTT 5, which is why the demo uplink speaks 3.1.1', async (t) => {
  const broker = await startBroker(t);
  const store = await openStore(t);
  const { log, lines } = captureLogger();
  const uplink = new Uplink({ config: mqttConfig(broker.url), device, outbox: store, log, state: stateInfo, protocolVersion: 5 });
  t.after(() => uplink.stop());
  await uplink.start(new AbortController().signal);
  const warning = await waitFor('a refused connection', () => lines.find((l) => l.level === 'warn'));
  assert.match(String(warning['err']), /protocol version/i);
  assert.equal(uplink.status().connected, false);
  await uplink.stop();
});
