import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventStore } from '../../daemon/store/event-store.js';
import type { StoredEvent } from '../../daemon/store/types.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { alertSchema, type AlertPayload } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import type { RuleHit } from '../../daemon/analytics/rules/types.js';
import { endMerge, endOptions, eventOf, startOptions, updateOptions } from '../../daemon/events/event-record.js';
import { alertEvent, device, openStore, mqttConfig, startUplink, subscribe, type Received } from './harness.js';

/**
 * The outbox side of an activity's messages: coalescing, an end for an evicted event, a queued end
 * across a restart. The stored event and each message's options come from the daemon's own
 * builders (daemon/events/event-record.ts); the whole path from a real rule through the App's sink
 * to a subscriber is test/events/contract.test.ts.
 */
const stay = (i: number, trackId: number): RuleHit => {
  const e = alertEvent(i);
  return { ruleId: e.rule, streamId: e.stream, severity: e.severity, ts: e.ts, objects: e.payload.objects.map((o) => ({ ...o, classId: 0 })),
    facts: { kind: 'zone', trigger: 'enter', track_id: trackId } };
};

function start(store: EventStore, i: number, trackId = 7): StoredEvent {
  return store.recordEvent(eventOf(stay(i, trackId)), alertOutbox(device, startOptions(true)));
}

function update(store: EventStore, id: string, ts: number, x: number): void {
  store.enqueueForEvent(id, alertOutbox(device, updateOptions({ eventId: id, ruleId: 'r', streamId: 'gate', ts,
    objects: [{ classId: 0, label: 'person', score: 0.8, box: [x, 50, x + 80, 300] }] })), { supersede: ['update'] });
}

function end(store: EventStore, id: string, startedTs: number, ts: number): StoredEvent | undefined {
  const e = { eventId: id, ruleId: 'r', streamId: 'gate', startedTs, ts, reason: 'exit' as const, details: { inside_s: (ts - startedTs) / 1000 } };
  return store.enqueueForEvent(id, alertOutbox(device, endOptions(e)), { merge: endMerge(e), supersede: ['update'] });
}

const alerts = (messages: Received[]): AlertPayload[] =>
  messages.filter((m) => m.topic.endsWith('/alerts')).map((m) => alertSchema.parse(m.json));

const queued = (store: EventStore): AlertPayload[] => store.peekOutbox(100).map((r) => alertSchema.parse(JSON.parse(r.payload)));

test('updates are coalesced while queued: one pending update per activity, none once the end is queued', async (t) => {
  const store = await openStore(t);
  const a = start(store, 1, 7);
  const b = start(store, 2, 8);
  update(store, a.id, a.ts + 30_000, 110);
  update(store, b.id, b.ts + 30_000, 210);
  update(store, a.id, a.ts + 60_000, 120);
  update(store, a.id, a.ts + 90_000, 130);
  let rows = queued(store);
  assert.deepEqual(rows.map((m) => [m.id, m.phase]), [[a.id, 'start'], [b.id, 'start'], [b.id, 'update'], [a.id, 'update']]);
  assert.deepEqual(rows[3]?.objects[0]?.box, [130, 50, 210, 300], 'the newest update is the one kept');
  assert.equal(store.peekOutbox(100).every((r) => r.eventId === (JSON.parse(r.payload) as { id: string }).id), true);

  assert.ok(end(store, a.id, a.ts, a.ts + 100_000));
  rows = queued(store);
  assert.deepEqual(rows.map((m) => [m.id, m.phase]), [[a.id, 'start'], [b.id, 'start'], [b.id, 'update'], [a.id, 'end']]);
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
  assert.deepEqual(got.map((m) => [m.id, m.phase]), [[opened.id, 'start'], [opened.id, 'end']]);
  // The kind's facts ride on every message; the end's additions (seconds inside) on the end; the
  // first revision's `activity` repeats the phase.
  assert.deepEqual(got.map((m) => (m.kind === 'zone' && m.trigger === 'enter' ? [m.track_id, m.inside_s, m.activity] : null)),
    [[7, undefined, 'start'], [7, 12, 'end']]);
  assert.equal(got[1]?.duration_s, 12);
  assert.deepEqual(hub.messages.map((m) => m.userProperties), [{ event_id: opened.id }, { event_id: opened.id }]);
  await waitFor('the outbox to empty', () => store.outboxStats().depth === 0 || undefined);
});
