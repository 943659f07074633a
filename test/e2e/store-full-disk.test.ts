import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Severity } from '../../daemon/config/schema.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { storageMessageSchema } from '../../daemon/uplink/payloads.js';
import { storageOutbox } from '../../daemon/uplink/storage-message.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { alertEvent, device, mqttConfig, startUplink, subscribe } from '../uplink/harness.js';

const KiB = 1024;
/**
 * 512 KiB for the events, plus 24 KiB for the six pages that migration 3's tables take while empty.
 * The check that no alert is lost while info survives depends on where the last eviction run stops,
 * to the page: with 512 KiB and those tables it stopped one info batch short.
 */
const BUDGET = 536 * KiB;

test('a small budget during a long outage: keeps running, evicts info before alerts, tells the hub, keeps the newest alerts', async (t) => {
  const broker = await startMosquitto(t, { persistence: true });
  const hub = await subscribe(t, broker.url, `vigil/v1/${device.site}/${device.id}/+`, {
    clientId: 'hub-full-disk', clean: false, properties: { sessionExpiryInterval: 600 },
  });
  const store = EventStore.open(await tempDir(t), {
    recover: true, budgetBytes: BUDGET, budgetCheckEvery: 100, notices: storageOutbox(device),
  });
  t.after(() => store.close());
  const uplink = startUplink(t, { config: mqttConfig(broker.url), outbox: store });
  await waitFor('the uplink to connect', () => uplink.status().connected || undefined);
  await broker.stop();
  await waitFor('the uplink to see the outage', () => (uplink.status().connected ? undefined : true));

  const toOutbox = alertOutbox(device);
  const made: { id: string; severity: Severity }[] = [];
  for (let i = 0; i < 4000; i += 1) {
    const severity: Severity = i % 3 === 0 ? 'alert' : 'info';
    made.push({ id: store.recordEvent(alertEvent(i, { severity }), toOutbox).id, severity });
  }
  const status = store.storageStatus();
  assert.ok(status.usedBytes <= BUDGET + 128 * KiB, `used ${status.usedBytes}`);
  assert.ok(status.evictions.lost.info > 0, 'info evicted');
  // Which events the budget gave up, by their order of recording (nothing was delivered yet).
  const kept = made.map((m) => store.getEvent(m.id) !== undefined);

  await broker.start();
  uplink.notify();
  await waitFor('the outbox to drain', () => (store.peekOutbox(1).length === 0 ? true : undefined), 30_000);
  const alertsKept = made.filter((m) => m.severity === 'alert' && store.getEvent(m.id));
  const received = await waitFor('every kept alert and a storage report at the hub', () => {
    const ids = new Set(hub.messages.map((m) => String(m.userProperties['event_id'])));
    const storage = hub.messages.filter((m) => m.topic.endsWith('/storage'));
    return alertsKept.every((a) => ids.has(a.id)) && storage.length > 0 ? { ids, storage } : undefined;
  }, 20_000);

  // Policy: an eviction run gives up every pending info event before any alert, so every info
  // event still kept was recorded after the newest alert given up (a run that reached alerts had
  // already removed all the info recorded before it). The exact split depends on event sizes.
  const newestLostAlert = made.reduce((at, m, i) => (m.severity === 'alert' && !kept[i] ? i : at), -1);
  const oldestKeptInfo = made.findIndex((m, i) => m.severity === 'info' && kept[i]);
  if (newestLostAlert >= 0 && oldestKeptInfo >= 0) {
    assert.ok(oldestKeptInfo > newestLostAlert, `info #${oldestKeptInfo} was kept while alert #${newestLostAlert} was given up`);
  }
  const newestAlerts = made.filter((m) => m.severity === 'alert').slice(-200);
  assert.ok(newestAlerts.every((a) => received.ids.has(a.id)), 'the 200 newest alerts reached the hub');
  const oldestInfo = made.find((m) => m.severity === 'info');
  assert.ok(oldestInfo && !received.ids.has(oldestInfo.id), 'the oldest info event was the one given up');

  // The reports are well-formed and add up to what the device counted.
  const reports = received.storage.map((m) => storageMessageSchema.parse(m.json));
  const last = reports.filter((r) => r.kind === 'evicted').at(-1);
  assert.ok(last?.kind === 'evicted');
  assert.equal(last.budget_bytes, BUDGET);
  assert.ok(last.total_lost >= last.lost.info, 'totals include this run');
  assert.equal(status.evictions.runs >= reports.length, true);
  assert.ok(reports.every((r) => received.ids.has(r.id)), 'reports carry their id as event_id too');
});
