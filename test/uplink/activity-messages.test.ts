import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventStore } from '../../daemon/store/event-store.js';
import type { StoredEvent } from '../../daemon/store/types.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { alertSchema, type AlertPayload } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { alertEvent, device, mqttConfig, openStore, startUplink, subscribe, type Received } from './harness.js';

/** What the daemon's sink does (daemon/app.ts), step by step, so that each message can be awaited. */
function start(store: EventStore, i: number, trackId = 7): StoredEvent {
  const e = alertEvent(i);
  return store.recordEvent({ ...e, payload: { ...e.payload, activity: 'enter', track_id: trackId } }, alertOutbox(device, { activity: 'start' }));
}

function update(store: EventStore, id: string, ts: number, x: number): void {
  store.enqueueForEvent(id, alertOutbox(device, { activity: 'update', ts, objects: [{ label: 'person', score: 0.8, box: [x, 50, x + 80, 300] }] }),
    { supersede: ['update'] });
}

function end(store: EventStore, id: string, startedTs: number, ts: number): StoredEvent | undefined {
  return store.enqueueForEvent(id, alertOutbox(device, { activity: 'end', ts }), {
    merge: { ended_at: new Date(ts).toISOString(), duration_s: (ts - startedTs) / 1000, end_reason: 'exit' },
    supersede: ['update'],
  });
}

const alerts = (messages: Received[]): AlertPayload[] =>
  messages.filter((m) => m.topic.endsWith('/alerts')).map((m) => alertSchema.parse(m.json));

const queued = (store: EventStore): AlertPayload[] => store.peekOutbox(100).map((r) => alertSchema.parse(JSON.parse(r.payload)));

test('an activity reaches the hub as start, update and end with one id, in order; a one-off event has no activity', async (t) => {
  const broker = await startMosquitto(t);
  const store = await openStore(t);
  const hub = await subscribe(t, broker.url, `vigil/v1/${device.site}/${device.id}/#`);
  const uplink = startUplink(t, { config: mqttConfig(broker.url), outbox: store });
  await waitFor('the uplink to connect', () => uplink.status().connected || undefined);

  const opened = start(store, 1);
  uplink.notify();
  await waitFor('the start at the hub', () => alerts(hub.messages).length === 1 || undefined);
  update(store, opened.id, opened.ts + 30_000, 140);
  uplink.notify();
  await waitFor('the update at the hub', () => alerts(hub.messages).length === 2 || undefined);
  assert.ok(end(store, opened.id, opened.ts, opened.ts + 45_500));
  const oneOff = store.recordEvent(alertEvent(2), alertOutbox(device));
  uplink.notify();
  const got = await waitFor('end and one-off at the hub', () => (alerts(hub.messages).length >= 4 ? alerts(hub.messages) : undefined));

  const mine = got.filter((m) => m.id === opened.id);
  assert.deepEqual(mine.map((m) => m.activity), ['start', 'update', 'end']);
  assert.deepEqual(mine.map((m) => m.track_id), [7, 7, 7]);
  assert.deepEqual(mine.map((m) => m.ts), [opened.ts, opened.ts + 30_000, opened.ts + 45_500].map((ms) => new Date(ms).toISOString()));
  assert.deepEqual(mine[1]?.objects, [{ label: 'person', score: 0.8, box: [140, 50, 220, 300] }]);
  const closed = mine[2];
  assert.equal(closed?.ended_at, new Date(opened.ts + 45_500).toISOString());
  assert.equal(closed.duration_s, 45.5);
  assert.equal(closed.end_reason, 'exit');
  assert.deepEqual(closed.objects, mine[0]?.objects, 'the end carries the objects of the start');
  for (const m of hub.messages.filter((x) => (x.json as { id?: unknown }).id === opened.id)) {
    assert.deepEqual(m.userProperties, { event_id: opened.id });
  }
  const single = got.find((m) => m.id === oneOff.id);
  assert.ok(single);
  assert.equal('activity' in single, false);
  assert.equal('track_id' in single, false);
  assert.equal('ended_at' in single, false);
  // The stored event keeps its start and gains the end's facts.
  const stored = store.getEvent(opened.id);
  assert.equal(stored?.payload['end_reason'], 'exit');
  assert.equal(stored.payload['activity'], 'enter');
});

test('updates are coalesced while queued: one pending update per activity, none once the end is queued', async (t) => {
  const store = await openStore(t);
  const a = start(store, 1, 7);
  const b = start(store, 2, 8);
  update(store, a.id, a.ts + 30_000, 110);
  update(store, b.id, b.ts + 30_000, 210);
  update(store, a.id, a.ts + 60_000, 120);
  update(store, a.id, a.ts + 90_000, 130);
  let rows = queued(store);
  assert.deepEqual(rows.map((m) => [m.id, m.activity]), [[a.id, 'start'], [b.id, 'start'], [b.id, 'update'], [a.id, 'update']]);
  assert.deepEqual(rows[3]?.objects[0]?.box, [130, 50, 210, 300], 'the newest update is the one kept');
  assert.equal(store.peekOutbox(100).every((r) => r.eventId === (JSON.parse(r.payload) as { id: string }).id), true);

  assert.ok(end(store, a.id, a.ts, a.ts + 100_000));
  rows = queued(store);
  assert.deepEqual(rows.map((m) => [m.id, m.activity]), [[a.id, 'start'], [b.id, 'start'], [b.id, 'update'], [a.id, 'end']]);
  // Same priority as the start: an end is never stuck behind less urgent traffic than its start.
  assert.deepEqual(new Set(store.peekOutbox(100).map((r) => r.priority)), new Set([1]));
});

test('an end for an evicted (gone) event queues nothing', async (t) => {
  const store = await openStore(t);
  assert.equal(end(store, '01900000-0000-7000-8000-000000000000', 0, 1000), undefined);
  assert.equal(store.outboxStats().depth, 0);
});

test('a queued end survives a restart of the store and reaches the hub after its start', async (t) => {
  const dir = await tempDir(t);
  const first = EventStore.open(dir);
  const opened = start(first, 1);
  assert.ok(end(first, opened.id, opened.ts, opened.ts + 12_000));
  first.close();

  const broker = await startMosquitto(t);
  const store = await openStore(t, dir);
  const hub = await subscribe(t, broker.url, `vigil/v1/${device.site}/${device.id}/alerts`);
  startUplink(t, { config: mqttConfig(broker.url), outbox: store });
  const got = await waitFor('start and end at the hub', () => (alerts(hub.messages).length >= 2 ? alerts(hub.messages) : undefined));
  assert.deepEqual(got.map((m) => [m.id, m.activity]), [[opened.id, 'start'], [opened.id, 'end']]);
  assert.equal(got[1]?.duration_s, 12);
  assert.deepEqual(hub.messages.map((m) => m.userProperties), [{ event_id: opened.id }, { event_id: opened.id }]);
  await waitFor('the outbox to empty', () => store.outboxStats().depth === 0 || undefined);
});
