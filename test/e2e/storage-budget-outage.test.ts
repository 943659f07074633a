import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { Severity } from '../../daemon/config/schema.js';
import { EventStore } from '../../daemon/store/event-store.js';
import type { StoredEvent } from '../../daemon/store/types.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { storageMessageSchema, type StorageMessage } from '../../daemon/uplink/payloads.js';
import { storageOutbox } from '../../daemon/uplink/storage-message.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/shared.js';
import { fillUp, smallTmpfs } from '../store/tmpfs.js';
import { alertEvent, captureLogger, device, mqttConfig, startUplink, subscribe } from '../uplink/harness.js';

const KiB = 1024;
const MiB = 1024 * KiB;
type Eviction = Extract<StorageMessage, { kind: 'evicted' }>;

/**
 * The full-disk case end to end: a sane budget (1 GiB) on a disk that cannot hold it (an
 * 8 MiB tmpfs), a broker outage while events keep coming, and a hub that must hear of every event
 * given up. Every event accepted either reaches the hub or is counted lost in a report the hub
 * receives; no alert is refused.
 */
test('a full disk during a broker outage: no alert refused, every eviction run reported to the hub, every event delivered or reported lost', async (t) => {
  const mount = await smallTmpfs(t, 8);
  const broker = await startMosquitto(t, { persistence: true });
  const hub = await subscribe(t, broker.url, `vigil/v1/${device.site}/${device.id}/+`, {
    clientId: 'hub-storage-budget', clean: false, properties: { sessionExpiryInterval: 600 },
  });
  const { log, lines } = captureLogger('warn');
  const store = EventStore.open(path.join(mount, 'state'), {
    recover: true, budgetBytes: 1024 * MiB, budgetCheckEvery: 20, walLimitBytes: 256 * KiB,
    disk: { reserveBytes: 1 * MiB, checkEveryMs: 0 }, notices: storageOutbox(device), log,
  });
  t.after(() => store.close());
  const uplink = startUplink(t, { config: mqttConfig(broker.url), outbox: store });
  await waitFor('the uplink to connect', () => uplink.status().connected || undefined);

  const toOutbox = alertOutbox(device);
  const accepted: StoredEvent[] = [];
  const pad = 'x'.repeat(400);
  const record = (i: number, severity: Severity): void => {
    const e = alertEvent(i, { severity });
    accepted.push(store.recordEvent({ ...e, payload: { ...e.payload, note: pad } }, toOutbox));
  };
  // Before the outage: 500 events reach the hub (these are the cheap ones to evict later).
  for (let i = 0; i < 500; i += 1) record(i, i % 3 === 0 ? 'alert' : 'info');
  uplink.notify();
  await waitFor('the first 500 delivered', () => (store.outboxStats().depth === 0 ? true : undefined), 20_000);

  await broker.stop();
  await waitFor('the uplink to see the outage', () => (uplink.status().connected ? undefined : true));
  // Three phases, each filling the disk again; another writer takes what is left in the middle one.
  let runsBefore = 0;
  const runsPerPhase: number[] = [];
  let n = 500;
  for (const count of [7000, 3000, 3000]) {
    for (let i = 0; i < count; i += 1, n += 1) record(n, i % 3 === 0 ? 'alert' : 'info');
    if (runsPerPhase.length === 1) fillUp(mount);
    const runs = store.storageStatus().evictions.runs;
    runsPerPhase.push(runs - runsBefore);
    runsBefore = runs;
  }
  assert.ok(runsPerPhase.every((n) => n > 0), `evictions in every phase: ${runsPerPhase.join(', ')}`);
  const status = store.storageStatus();
  assert.ok(status.evictions.lost.info > 0, 'undelivered info events had to go');

  await broker.start();
  uplink.notify();
  await waitFor('the outbox to drain', () => (store.outboxStats().depth === 0 ? true : undefined), 60_000);
  const reports = await waitFor('the eviction reports at the hub', () => {
    const got = hub.messages.filter((m) => m.topic.endsWith('/storage')).map((m) => storageMessageSchema.parse(m.json))
      .filter((m): m is Eviction => m.kind === 'evicted');
    const runs = new Map(got.map((r) => [r.id, r.runs]));
    return [...runs.values()].reduce((a, b) => a + b, 0) === status.evictions.runs ? got : undefined;
  }, 20_000);

  // De-duplicated by id, as the hub does (at-least-once delivery).
  const byId = new Map(reports.map((r) => [r.id, r]));
  const unique = [...byId.values()];
  const sum = (f: (r: Eviction) => number): number => unique.reduce((n, r) => n + f(r), 0);
  assert.equal(sum((r) => r.runs), status.evictions.runs, 'every run is in exactly one report');
  const received = new Set(hub.messages.filter((m) => m.topic.endsWith('/alerts') || m.topic.endsWith('/events')).map((m) => String(m.userProperties['event_id'])));
  const notReceived = accepted.filter((e) => !received.has(e.id));
  for (const sev of ['info', 'warning', 'alert', 'critical'] as const) {
    assert.equal(sum((r) => r.lost[sev]), notReceived.filter((e) => e.severity === sev).length,
      `${sev}: every event accepted and not at the hub is counted lost in a report`);
  }
  // Delivered events evicted: the first 500 reached the hub, and the reports say how many left the device.
  const goneDelivered = accepted.filter((e) => received.has(e.id) && !store.getEvent(e.id)).length;
  assert.equal(sum((r) => r.delivered), goneDelivered);
  assert.equal(sum((r) => r.lost.alert), status.evictions.lost.alert);
  assert.ok(accepted.slice(-200).filter((e) => e.severity === 'alert').every((e) => received.has(e.id)), 'the newest alerts arrived');
  assert.ok(lines.some((l) => /released the ballast/.test(l.msg)), 'the ballast carried eviction through the full disk');
  t.diagnostic(`accepted ${accepted.length}, at the hub ${received.size}, runs ${status.evictions.runs} in ${unique.length} report(s), ` +
    `lost ${JSON.stringify(status.evictions.lost)}, delivered evicted ${goneDelivered}`);
});
