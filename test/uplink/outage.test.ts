import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alertSchema } from '../../daemon/uplink/payloads.js';
import { Uplink } from '../../daemon/uplink/uplink.js';
import { freePort, startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import {
  alertEvent, captureLogger, device, mqttConfig, openStore, record, startUplink, stateInfo, subscribe,
  type Received,
} from './harness.js';

const idsOf = (messages: Received[]): Set<string> =>
  new Set(messages.filter((m) => !m.topic.endsWith('/state')).map((m) => alertSchema.parse(m.json).id));

test('events recorded during a broker outage stay in the outbox and all arrive after it', async (t) => {
  // Persistence and a persistent subscriber session: the hub side misses nothing while the broker
  // restarts, so any missing id would be the uplink's fault.
  const broker = await startMosquitto(t, { persistence: true });
  const store = await openStore(t);
  const hub = await subscribe(t, broker.url, `vigil/v1/${device.site}/+/#`, {
    clientId: 'hub-outage-test', clean: false, properties: { sessionExpiryInterval: 600 },
  });
  const { log, lines } = captureLogger();
  const uplink = startUplink(t, { config: mqttConfig(broker.url, { inflight: 8 }), outbox: store, log });
  await waitFor('the uplink to connect', () => uplink.status().connected || undefined);

  await broker.stop();
  await waitFor('the uplink to see the outage', () => (uplink.status().connected ? undefined : true));
  const ids = new Set<string>();
  for (let i = 0; i < 50; i += 1) {
    ids.add(record(store, alertEvent(i)).id);
    uplink.notify();
  }
  assert.equal(store.outboxStats().depth, 50);
  assert.equal(uplink.status().outboxDepth, 50);
  await waitFor('a warning per failed attempt', () =>
    (lines.filter((l) => l.level === 'warn' && /cannot reach the MQTT broker/.test(l.msg)).length >= 1 || undefined));
  assert.ok(lines.some((l) => l.level === 'warn' && /lost the connection/.test(l.msg)));

  await broker.start();
  await waitFor('all 50 ids at the hub', () => {
    const got = idsOf(hub.messages);
    return [...ids].every((id) => got.has(id)) || undefined;
  }, 15_000);
  await waitFor('the outbox to empty', () => store.outboxStats().depth === 0 || undefined);
  assert.ok(uplink.status().acked >= 50);
  await uplink.stop();
});

test('events pending at a daemon restart are delivered by the next run, most urgent first', async (t) => {
  const broker = await startMosquitto(t);
  const dir = await tempDir(t);
  {
    const store = await openStore(t, dir);
    const uplink = startUplink(t, { config: mqttConfig(broker.url), outbox: store });
    await waitFor('the uplink to connect', () => uplink.status().connected || undefined);
    await broker.stop();
    await waitFor('the uplink to see the outage', () => (uplink.status().connected ? undefined : true));
    for (let i = 0; i < 10; i += 1) record(store, alertEvent(i, { severity: i === 7 ? 'critical' : 'info' }));
    uplink.notify();
    await uplink.stop();
    store.close();
  }
  await broker.start();
  const hub = await subscribe(t, broker.url, `vigil/v1/${device.site}/+/#`);

  const store = await openStore(t, dir);
  const pending = store.peekOutbox(100);
  assert.equal(pending.length, 10);
  // A window of one makes the order on the wire exactly the outbox order.
  const uplink = new Uplink({ config: mqttConfig(broker.url, { inflight: 1 }), device, outbox: store, log: captureLogger().log, state: stateInfo });
  t.after(() => uplink.stop());
  await uplink.start(new AbortController().signal);
  const got = await waitFor('the ten pending events', () => {
    const m = hub.messages.filter((x) => !x.topic.endsWith('/state'));
    return m.length >= 10 ? m : undefined;
  });
  assert.deepEqual(got.map((m) => alertSchema.parse(m.json).id), pending.map((r) => r.eventId));
  assert.equal(alertSchema.parse(got[0]?.json).severity, 'critical');
  await waitFor('the outbox to empty', () => store.outboxStats().depth === 0 || undefined);
  await uplink.stop();
});

test('an unreachable broker gives one warning per attempt, with credentials redacted, and never throws', async (t) => {
  const port = await freePort();
  const store = await openStore(t);
  const { log, lines } = captureLogger();
  const uplink = new Uplink({
    config: mqttConfig(`mqtt://vigil:s3cret-pw@127.0.0.1:${port}`, { password: 'other-secret' }),
    device, outbox: store, log, state: stateInfo,
  });
  t.after(() => uplink.stop());
  await uplink.start(new AbortController().signal);
  for (let i = 0; i < 5; i += 1) record(store, alertEvent(i));
  uplink.notify();

  const warnings = await waitFor('three failed attempts', () => {
    const w = lines.filter((l) => l.level === 'warn');
    return w.length >= 3 ? w : undefined;
  });
  for (const w of warnings) {
    assert.match(w.msg, /cannot reach the MQTT broker/);
    assert.equal(w['url'], `mqtt://***@127.0.0.1:${port}`);
    assert.match(String(w['err']), /ECONNREFUSED/);
  }
  const attempts = warnings.map((w) => w['attempt']);
  assert.deepEqual(attempts, attempts.map((_, i) => i + 1), 'one line per attempt');
  const all = JSON.stringify(lines);
  assert.ok(!all.includes('s3cret-pw') && !all.includes('other-secret'), 'no credentials in the log');
  const status = uplink.status();
  assert.equal(status.connected, false);
  assert.equal(status.outboxDepth, 5);
  assert.ok(status.disconnects >= 3);
  await uplink.stop();
});
