import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { eventFactsSchema, storedFacts, type EventFacts } from '../../daemon/events/event-kinds.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { migrate, migrations } from '../../daemon/store/migrations.js';
import { DATABASE_FILE } from '../../daemon/store/open.js';
import type { StoredEvent } from '../../daemon/store/types.js';
import { alertPayload } from '../../daemon/uplink/alert-message.js';
import { alertSchema } from '../../daemon/uplink/payloads.js';
import { tempDir } from '../helpers/shared.js';

const device = { id: 'lot-1', site: 'depot' };
const ID = '019a1b2c-3d4e-7f00-8a00-0123456789ab';
const objects = [{ label: 'car', score: 0.8, box: [10, 20, 110, 220] as [number, number, number, number] }];

const stored = (facts: EventFacts, extra: Record<string, unknown> = {}): StoredEvent => ({
  id: ID, ts: Date.parse('2026-12-01T10:00:00.000Z'), stream: 'lot', rule: 'r', severity: 'alert', kind: facts.kind,
  payload: { objects, facts, ...extra }, createdAt: 0, uplinkedAt: null,
});

/** One example of every kind and trigger, as a rule makes it. */
const examples: EventFacts[] = [
  { kind: 'presence' },
  { kind: 'zone', trigger: 'enter', track_id: 3 },
  { kind: 'zone', trigger: 'exit', track_id: 3, inside_s: 4.5 },
  { kind: 'zone', trigger: 'dwell', track_id: 3, dwell_s: 30 },
  { kind: 'zone', trigger: 'presence', count: 2 },
  { kind: 'line', direction: 'b_to_a', track_id: 9 },
  { kind: 'count', trigger: 'periodic', count: 0 },
  { kind: 'count', trigger: 'above', count: 9, threshold: 8 },
  { kind: 'count', trigger: 'below', count: 0, threshold: 1 },
  { kind: 'stationary', track_id: 5, stationary_s: 31.2 },
  { kind: 'motion' },
  { kind: 'test' },
];

test('every kind\'s facts reach the message unchanged, beside the envelope, and the message is its kind\'s strict branch', () => {
  for (const facts of examples) {
    const m = alertPayload(device, stored(facts, facts.kind === 'test' ? { test: true } : {}));
    const { schema, id, device: d, site, stream, rule, severity, ts, objects: o, test: isTest, ...rest } = m;
    assert.deepEqual([schema, id, d, site, stream, rule, severity, ts, o], ['vigil.alert/1', ID, 'lot-1', 'depot', 'lot', 'r', 'alert', '2026-12-01T10:00:00.000Z', objects]);
    assert.equal(isTest, facts.kind === 'test' ? true : undefined);
    assert.deepEqual(rest, facts, facts.kind);
    // Facts of another kind, or a fact missing, do not pass.
    assert.throws(() => alertSchema.parse({ ...m, kind: facts.kind === 'line' ? 'zone' : 'line' }), facts.kind);
  }
  assert.throws(() => alertPayload(device, stored({ kind: 'line', track_id: 1 } as unknown as EventFacts)), /direction/);
  assert.throws(() => eventFactsSchema.parse({ kind: 'zone', trigger: 'enter' }), /track_id/);
  assert.throws(() => eventFactsSchema.parse({ kind: 'count', trigger: 'periodic', count: 1, direction: 'a_to_b' }), /direction/);
});

test('an activity\'s phase is `phase`, repeated as `activity`; the end carries the facts its end merged in', () => {
  const start = alertPayload(device, stored({ kind: 'stationary', track_id: 5, stationary_s: 30 }), { phase: 'start' });
  assert.equal(start.phase, 'start');
  assert.equal(start.activity, 'start');
  const ended = stored({ kind: 'stationary', track_id: 5, stationary_s: 42 },
    { ended_at: '2026-12-01T10:00:12.000Z', duration_s: 12, end_reason: 'moved' });
  const end = alertPayload(device, ended, { phase: 'end', ts: ended.ts + 12_000 });
  assert.ok(end.kind === 'stationary');
  assert.deepEqual([end.phase, end.activity, end.stationary_s, end.duration_s, end.end_reason], ['end', 'end', 42, 12, 'moved']);
});

test('migration 4: events recorded before the upgrade get typed facts, and their queued messages kind, facts and phase', async (t) => {
  const dir = await tempDir(t);
  const old = new BetterSqlite3(path.join(dir, DATABASE_FILE));
  migrate(old, migrations.filter((m) => m.version <= 3));
  const insert = old.prepare('INSERT INTO events (id, ts, stream, rule, severity, kind, payload, created_at) VALUES (?, 1000, ?, ?, ?, ?, ?, 1)');
  const o = JSON.stringify(objects);
  // The shapes the sink stored before: the verb in `activity`, the facts loose.
  const rows: [string, string, string, string][] = [
    ['0190a000-0000-7000-8000-000000000001', 'aisle', 'line', `{"objects":${o},"activity":"crossing","track_id":4,"direction":"a_to_b"}`],
    ['0190a000-0000-7000-8000-000000000002', 'lotcount', 'count', `{"objects":[],"activity":"count","count":0}`],
    ['0190a000-0000-7000-8000-000000000003', 'crowd', 'count', `{"objects":${o},"activity":"above","count":3,"ended_at":"1970-01-01T00:00:02.000Z","duration_s":1,"end_reason":"cleared"}`],
    ['0190a000-0000-7000-8000-000000000004', 'door', 'zone', `{"objects":${o},"activity":"dwell","track_id":7,"dwell_s":30,"inside_s":41}`],
    ['0190a000-0000-7000-8000-000000000005', 'parked', 'stationary', `{"objects":${o},"activity":"stationary","track_id":2,"still_s":60}`],
    ['0190a000-0000-7000-8000-000000000006', 'people', 'presence', `{"objects":${o},"activity":"presence"}`],
    ['0190a000-0000-7000-8000-000000000007', 'control', 'audit', '{"objects":[],"audit":{"outcome":"refused"}}'],
  ];
  for (const [id, rule, kind, payload] of rows) insert.run(id, 'lot', rule, 'alert', kind, payload);
  // A crossing's message queued before the upgrade, and a count start's.
  const queue = old.prepare('INSERT INTO outbox (event_id, topic, payload, qos, priority, created_at) VALUES (?, \'t/alerts\', ?, 1, 1, 1)');
  const envelope = (id: string, rule: string): Record<string, unknown> => ({ schema: 'vigil.alert/1', id, device: 'lot-1', site: 'depot', stream: 'lot', rule, severity: 'alert', ts: '1970-01-01T00:00:01.000Z', objects });
  queue.run(rows[0]![0], JSON.stringify(envelope(rows[0]![0], 'aisle')));
  queue.run(rows[2]![0], JSON.stringify({ ...envelope(rows[2]![0], 'crowd'), activity: 'start' }));
  old.close();

  const store = EventStore.open(dir);
  t.after(() => store.close());
  const facts = rows.slice(0, 6).map(([id]) => storedFacts(store.getEvent(id)!.kind, store.getEvent(id)!.payload));
  assert.deepEqual(facts, [
    { kind: 'line', direction: 'a_to_b', track_id: 4 },
    { kind: 'count', trigger: 'periodic', count: 0 },
    { kind: 'count', trigger: 'above', count: 3 },
    { kind: 'zone', trigger: 'dwell', track_id: 7, dwell_s: 30, inside_s: 41 },
    { kind: 'stationary', track_id: 2, stationary_s: 60 },
    { kind: 'presence' },
  ]);
  const crossing = store.getEvent(rows[0]![0])!;
  assert.deepEqual(Object.keys(crossing.payload).sort(), ['facts', 'objects'], 'the loose fields are gone');
  assert.equal(store.getEvent(rows[2]![0])!.payload['end_reason'], 'cleared', 'the end\'s fields stay');
  assert.deepEqual(store.getEvent(rows[6]![0])!.payload, { objects: [], audit: { outcome: 'refused' } }, 'other kinds untouched');
  // Every migrated event builds a valid message, and the queued ones were brought up to it.
  for (const [id] of rows.slice(0, 6)) alertSchema.parse(alertPayload(device, store.getEvent(id)!));
  const queued = store.peekOutbox(10).map((r) => alertSchema.parse(JSON.parse(r.payload)));
  assert.deepEqual(queued.map((m) => [m.kind, m.phase, m.activity, 'direction' in m ? m.direction : null, 'count' in m ? m.count : null]),
    [['line', undefined, undefined, 'a_to_b', null], ['count', 'start', 'start', null, 3]]);
});
