import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertSchema, stateSchema } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/shared.js';
import {
  alertEvent, alertsTopic, device, mqttConfig, openStore, record, startUplink, stateTopic, subscribe,
} from './harness.js';

test('alerts reach a subscriber with the payload contract and event_id, and leave the outbox on PUBACK', async (t) => {
  const broker = await startMosquitto(t);
  const store = await openStore(t);
  const hub = await subscribe(t, broker.url, `vigil/v1/${device.site}/${device.id}/#`);
  const uplink = startUplink(t, { config: mqttConfig(broker.url), outbox: store });
  await waitFor('the uplink to connect', () => uplink.status().connected || undefined);

  const events = [
    record(store, alertEvent(1)),
    record(store, alertEvent(2, { severity: 'critical', stream: 'yard' })),
    record(store, alertEvent(3, { severity: 'info' })),
  ];
  uplink.notify();

  const got = await waitFor('three events at the hub', () => {
    const m = hub.messages.filter((x) => !x.topic.endsWith('/state'));
    return m.length >= 3 ? m : undefined;
  });
  for (const e of events) {
    const msg = got.find((m) => (m.json as { id?: unknown }).id === e.id);
    assert.ok(msg, `event ${e.id} arrived`);
    assert.equal(msg.topic, e.severity === 'info' ? `vigil/v1/${device.site}/${device.id}/events` : alertsTopic);
    assert.deepEqual(msg.userProperties, { event_id: e.id });
    assert.deepEqual(alertSchema.parse(msg.json), {
      schema: 'vigil.alert/1',
      id: e.id,
      device: device.id,
      site: device.site,
      stream: e.stream,
      rule: e.rule,
      severity: e.severity,
      ts: new Date(e.ts).toISOString(),
      objects: e.payload.objects,
      kind: 'presence',
    });
  }
  await waitFor('the outbox to empty', () => store.outboxStats().depth === 0 || undefined);
  for (const e of events) assert.ok(store.getEvent(e.id)?.uplinkedAt, 'event marked uplinked');
  const status = uplink.status();
  assert.equal(status.acked, 3);
  assert.equal(status.published, 3);
  assert.equal(status.failures, 0);
  assert.equal(status.outboxDepth, 0);

  // A subscriber that arrives later sees the retained online state.
  const late = await subscribe(t, broker.url, stateTopic);
  const [state] = await waitFor('the retained state', () => (late.messages.length > 0 ? late.messages : undefined));
  assert.ok(state);
  assert.equal(state.retain, true);
  const online = stateSchema.parse(state.json);
  assert.equal(online.state, 'online');
  assert.equal(online.version, '0.1.0-test');
  assert.deepEqual(online.streams, [{ id: 'gate', state: 'playing', decoder: 'avdec_h264', provider: 'cpu' }]);

  // A graceful stop replaces it with a retained offline state.
  await uplink.stop();
  const afterStop = await subscribe(t, broker.url, stateTopic);
  const offline = await waitFor('the retained offline state', () => afterStop.messages[0]);
  assert.equal(stateSchema.parse(offline.json).state, 'offline');
});

test('a connection lost without DISCONNECT leaves the last will: retained offline', async (t) => {
  const broker = await startMosquitto(t);
  const store = await openStore(t);
  const watcher = await subscribe(t, broker.url, stateTopic);
  // A long reconnect delay keeps the uplink away while we look at what the broker retained.
  const uplink = startUplink(t, {
    config: mqttConfig(broker.url, { reconnect_min_ms: 60_000, reconnect_max_ms: 60_000 }),
    outbox: store,
  });
  await waitFor('online state', () => watcher.messages.find((m) => (m.json as { state?: unknown }).state === 'online'));

  const client = uplink.client;
  assert.ok(client);
  client.stream.destroy();

  const will = await waitFor('the will', () => watcher.messages.find((m) => (m.json as { state?: unknown }).state === 'offline'));
  const parsedWill = stateSchema.parse(will.json);
  assert.deepEqual(parsedWill.streams, []);
  assert.equal(parsedWill.device, device.id);
  await waitFor('the uplink to notice', () => (uplink.status().connected ? undefined : true));

  const fresh = await subscribe(t, broker.url, stateTopic);
  const retained = await waitFor('the retained state', () => fresh.messages[0]);
  assert.equal(retained.retain, true);
  assert.equal(stateSchema.parse(retained.json).state, 'offline');
  await uplink.stop();
});
