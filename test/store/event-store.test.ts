import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Severity } from '../../daemon/config/schema.js';
import { EventStore } from '../../daemon/store/event-store.js';
import type { NewEvent, OutboxMessage } from '../../daemon/store/types.js';
import { tempDir } from '../helpers/shared.js';

function newEvent(overrides: Partial<NewEvent> = {}): NewEvent {
  return {
    ts: Date.parse('2025-06-01T12:00:00.000Z'),
    stream: 'gate',
    rule: 'people',
    severity: 'alert',
    kind: 'presence',
    payload: { objects: [{ label: 'person', score: 0.8, box: [10, 20, 30, 40] }] },
    ...overrides,
  };
}

const message = (priority: number): ((e: { id: string }) => OutboxMessage) =>
  (e) => ({ topic: 't', payload: JSON.stringify({ id: e.id }), qos: 1, priority });

async function openStore(t: { after(fn: () => void): void }, now?: () => number): Promise<EventStore> {
  const dir = await tempDir(t);
  const store = EventStore.open(dir, now ? { now } : {});
  t.after(() => store.close());
  return store;
}

function counts(store: EventStore): { events: number; outbox: number } {
  return {
    events: Number(store.db.prepare('SELECT count(*) FROM events').pluck().get()),
    outbox: Number(store.db.prepare('SELECT count(*) FROM outbox').pluck().get()),
  };
}

test('recordEvent stores the event and its outbox row together', async (t) => {
  const store = await openStore(t, () => 1_000);
  const stored = store.recordEvent(newEvent(), message(1));
  assert.match(stored.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'uuid v7');
  assert.deepEqual(counts(store), { events: 1, outbox: 1 });
  const [row] = store.peekOutbox(10);
  assert.ok(row);
  assert.equal(row.eventId, stored.id);
  assert.equal(row.payload, JSON.stringify({ id: stored.id }));
  assert.equal(row.createdAt, 1_000);
  assert.equal(row.attempts, 0);
});

test('recordEvent keeps neither row when the outbox part fails', async (t) => {
  const store = await openStore(t);
  assert.throws(() => store.recordEvent(newEvent(), () => {
    throw new Error('cannot build the message');
  }), /cannot build the message/);
  // The outbox insert itself failing (a CHECK constraint) must take the event with it too.
  assert.throws(() => store.recordEvent(newEvent(), (e) => ({ ...message(1)(e), qos: 2 as 1 })), /CHECK constraint/);
  assert.deepEqual(counts(store), { events: 0, outbox: 0 });
  // An event may also be kept local only.
  store.recordEvent(newEvent());
  assert.deepEqual(counts(store), { events: 1, outbox: 0 });
});

test('the outbox is peeked by priority then seq, skipping in-flight rows', async (t) => {
  const store = await openStore(t);
  const ids: string[] = [];
  for (const p of [3, 1, 3, 0, 1]) ids.push(store.recordEvent(newEvent(), message(p)).id);
  const all = store.peekOutbox(10);
  assert.deepEqual(all.map((r) => r.eventId), [ids[3], ids[1], ids[4], ids[0], ids[2]]);
  assert.deepEqual(all.map((r) => r.priority), [0, 1, 1, 3, 3]);
  const [first, second] = all;
  assert.ok(first && second);
  const rest = store.peekOutbox(2, [first.seq, second.seq]);
  assert.deepEqual(rest.map((r) => r.eventId), [ids[4], ids[0]]);
  assert.deepEqual(store.peekOutbox(0), []);
});

test('deleting an acknowledged row marks its event uplinked; attempts and stats are kept', async (t) => {
  let now = 5_000;
  const store = await openStore(t, () => now);
  assert.deepEqual(store.outboxStats(), { depth: 0, oldestCreatedAt: null, oldestAgeMs: null });
  const a = store.recordEvent(newEvent(), message(1));
  now = 6_000;
  store.recordEvent(newEvent(), message(1));
  now = 9_000;
  assert.deepEqual(store.outboxStats(), { depth: 2, oldestCreatedAt: 5_000, oldestAgeMs: 4_000 });

  const [row] = store.peekOutbox(1);
  assert.ok(row);
  store.markAttempt(row.seq);
  store.markAttempt(row.seq);
  assert.equal(store.peekOutbox(1)[0]?.attempts, 2);
  assert.equal(store.deleteOutbox(row.seq), true);
  assert.equal(store.deleteOutbox(row.seq), false, 'a second PUBACK for the same row is harmless');
  assert.equal(store.getEvent(a.id)?.uplinkedAt, 9_000);
  assert.deepEqual(store.outboxStats(), { depth: 1, oldestCreatedAt: 6_000, oldestAgeMs: 3_000 });
});

test('events are listed by stream, since and limit', async (t) => {
  const store = await openStore(t);
  const severities: Severity[] = ['info', 'warning', 'alert', 'critical'];
  for (let i = 0; i < 8; i += 1) {
    store.recordEvent(newEvent({ ts: 1_000 + i, stream: i % 2 === 0 ? 'gate' : 'yard', severity: severities[i % 4] ?? 'info' }));
  }
  const gate = store.listEvents({ stream: 'gate' });
  assert.deepEqual(gate.map((e) => e.ts), [1_006, 1_004, 1_002, 1_000]);
  assert.deepEqual(store.listEvents({ since: 1_005, order: 'asc' }).map((e) => e.ts), [1_005, 1_006, 1_007]);
  assert.deepEqual(store.listEvents({ stream: 'yard', since: 1_002, limit: 2 }).map((e) => e.ts), [1_007, 1_005]);
  const [latest] = store.listEvents({ limit: 1 });
  assert.equal(latest?.severity, 'critical');
  assert.deepEqual(latest?.payload, newEvent().payload);
});
