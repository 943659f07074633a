import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { buildProgram } from '../../cli/program.js';
import type { Output } from '../../cli/output.js';
import { ControlSocket } from '../../daemon/control/socket-server.js';
import { silentLogger } from '../../daemon/log.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { latestVersion, migrate, migrations, userVersion } from '../../daemon/store/migrations.js';
import { DATABASE_FILE } from '../../daemon/store/open.js';
import { EventReviews, type EventDetail } from '../../daemon/tiers/event-reviews.js';
import type { StoredEvent } from '../../daemon/store/types.js';
import { tempDir } from '../helpers/shared.js';
import { newEvent, toOutbox } from '../store/store-fixtures.js';

function capture(): { out: Output; lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines, errors,
    out: { raw: (s) => lines.push(s), result: (json, v, human) => lines.push(json ? JSON.stringify(v) : human), error: (s) => errors.push(s) },
  };
}

async function vigilctl(args: string[]): Promise<{ lines: string[]; errors: string[]; failed: unknown }> {
  const c = capture();
  let failed: unknown = null;
  try {
    await buildProgram(c.out).parseAsync(args, { from: 'user' });
  } catch (err) {
    failed = err;
  }
  return { lines: c.lines, errors: c.errors, failed };
}

test('reviews: one label per event, replaced by a new ack, listed for learning, gone with the event', async (t) => {
  const store = EventStore.open(await tempDir(t));
  t.after(() => store.close());
  const [a, b] = store.recordEvents([newEvent(1), newEvent(2, 'warning')], toOutbox);
  assert.ok(a && b);
  assert.equal(store.reviewEvent({ event_id: a.id, verdict: 'true_alarm', note: null, source: 'vigilctl:ana', ts: 1000 }), true);
  assert.equal(store.reviewEvent({ event_id: b.id, verdict: 'false_alarm', note: 'a shadow', source: 'hub:op-3', ts: 2000 }), true);
  assert.equal(store.reviewEvent({ event_id: a.id, verdict: 'false_alarm', note: 'the cleaner', source: 'hub:op-3', ts: 3000 }), true);
  assert.equal(store.reviewEvent({ event_id: 'no-such-event', verdict: 'true_alarm', note: null, source: 'x', ts: 1 }), false);
  // The shape the federated-learning work reads.
  assert.deepEqual(store.listReviews(), [
    { event_id: b.id, verdict: 'false_alarm', note: 'a shadow', source: 'hub:op-3', ts: 2000 },
    { event_id: a.id, verdict: 'false_alarm', note: 'the cleaner', source: 'hub:op-3', ts: 3000 },
  ]);
  assert.deepEqual(store.listReviews(2500).map((r) => r.event_id), [a.id]);
  assert.throws(() => store.db.prepare("INSERT INTO reviews VALUES (?, 'maybe', NULL, 'x', 1)").run(b.id), /CHECK/);

  // Timings go in per stage, in any order; both they and the review go when the event does.
  assert.equal(store.recordTiming(a.id, 'pubackAt', 1030.5), true);
  assert.equal(store.recordTiming(a.id, 'inferredAt', 1000.25), true);
  assert.equal(store.recordTiming('no-such-event', 'inferredAt', 1), false);
  assert.deepEqual(store.timings(a.id), { inferredAt: 1000.25, committedAt: null, actionAt: null, pubackAt: 1030.5, evidenceAt: null });
  store.db.prepare('DELETE FROM outbox WHERE event_id = ?').run(a.id);
  store.db.prepare('DELETE FROM events WHERE id = ?').run(a.id);
  assert.equal(store.timings(a.id), null);
  assert.equal(store.getReview(a.id), null);
  assert.deepEqual(store.listReviews().map((r) => r.event_id), [b.id]);
});

test('vigilctl events show, ack and tail through the daemon\'s control socket', async (t) => {
  const dir = await tempDir(t);
  const store = EventStore.open(dir);
  t.after(() => store.close());
  const events = store.recordEvents([1, 2, 3].map((i) => newEvent(i)), toOutbox);
  const first = events[0]!;
  store.recordTiming(first.id, 'inferredAt', 5000);
  store.recordTiming(first.id, 'committedAt', 5002.5);
  store.recordTiming(first.id, 'actionAt', 5004);
  store.recordTiming(first.id, 'pubackAt', 5030);
  const reviews = new EventReviews(() => store);
  const socket = path.join(dir, 'vigild.sock');
  const server = new ControlSocket(socket, { status: () => ({}), listEvents: () => [], ...reviews.target() }, silentLogger());
  await server.start();
  t.after(() => server.stop());

  const acked = await vigilctl(['events', 'ack', first.id, '--verdict', 'false_alarm', '--note', 'a reflection', '--socket', socket, '--json']);
  assert.equal(acked.failed, null, acked.errors.join());
  const review = JSON.parse(acked.lines[0] ?? '{}') as { verdict: string; note: string; source: string };
  assert.deepEqual([review.verdict, review.note], ['false_alarm', 'a reflection']);
  assert.match(review.source, /^vigilctl:/);
  assert.equal(store.getReview(first.id)?.verdict, 'false_alarm', 'stored by the daemon');

  const shown = await vigilctl(['events', 'show', first.id, '--socket', socket, '--json']);
  const detail = JSON.parse(shown.lines[0] ?? '{}') as EventDetail;
  assert.equal(detail.event.id, first.id);
  assert.deepEqual(detail.timings, { commit_ms: 2.5, action_ms: 4, puback_ms: 30, evidence_ms: null });
  assert.equal(detail.review?.note, 'a reflection');
  assert.equal(detail.snapshot, null);
  const human = await vigilctl(['events', 'show', first.id, '--socket', socket]);
  assert.match(human.lines.join('\n'), /commit 2\.5 ms, local action 4\.0 ms, PUBACK 30\.0 ms, evidence -/);
  assert.match(human.lines.join('\n'), /review: false_alarm by vigilctl:\S+ at .*: a reflection/);

  // Re-ack replaces.
  await vigilctl(['events', 'ack', first.id, '--verdict', 'true_alarm', '--socket', socket]);
  assert.deepEqual([store.getReview(first.id)?.verdict, store.getReview(first.id)?.note], ['true_alarm', null]);

  // Tail: oldest first from the cursor, and the cursor to go on from.
  const page1 = JSON.parse((await vigilctl(['events', 'tail', '--limit', '2', '--socket', socket, '--json'])).lines[0] ?? '{}') as { events: StoredEvent[]; next: string };
  assert.deepEqual(page1.events.map((e) => e.id), [events[0]!.id, events[1]!.id]);
  const page2 = JSON.parse((await vigilctl(['events', 'tail', '--after', page1.next, '--socket', socket, '--json'])).lines[0] ?? '{}') as { events: StoredEvent[]; next: string };
  assert.deepEqual(page2.events.map((e) => e.id), [events[2]!.id]);
  const page3 = JSON.parse((await vigilctl(['events', 'tail', '--after', page2.next, '--socket', socket, '--json'])).lines[0] ?? '{}') as { events: StoredEvent[]; next: string };
  assert.deepEqual([page3.events.length, page3.next], [0, page2.next]);

  // Clear errors: an unknown event, a verdict that is not one, a missing verdict.
  const unknown = await vigilctl(['events', 'ack', 'nope', '--verdict', 'true_alarm', '--socket', socket]);
  assert.match(String(unknown.failed), /no event nope on this device/);
  const bad = await vigilctl(['events', 'ack', first.id, '--verdict', 'maybe', '--socket', socket]);
  assert.match(bad.errors.join(), /Allowed choices are true_alarm, false_alarm/);
  const missing = await vigilctl(['events', 'ack', first.id, '--socket', socket]);
  assert.match(missing.errors.join(), /--verdict <verdict>' not specified/);
});

test('migration 3 upgrades a version-2 database in place: its queued rows still send, its events take timings and reviews', async (t) => {
  const dir = await tempDir(t);
  const old = new BetterSqlite3(path.join(dir, DATABASE_FILE));
  migrate(old, migrations.filter((m) => m.version <= 2));
  old.prepare(`INSERT INTO events (id, ts, stream, rule, severity, kind, payload, created_at) VALUES ('e1', 1, 'gate', 'door', 'alert', 'zone', '{"objects":[]}', 1)`).run();
  old.prepare(`INSERT INTO outbox (event_id, topic, payload, qos, priority, created_at) VALUES ('e1', 'a/b', '{"id":"e1"}', 1, 1, 1)`).run();
  old.close();

  const store = EventStore.open(dir);
  t.after(() => store.close());
  assert.equal(userVersion(store.db), latestVersion);
  const [row] = store.peekOutbox(10);
  assert.deepEqual([row?.payload, row?.blob], ['{"id":"e1"}', undefined]);
  assert.equal(store.ackOutbox([row!.seq]), 1);
  assert.notEqual(store.getEvent('e1')?.uplinkedAt, null);
  assert.equal(store.reviewEvent({ event_id: 'e1', verdict: 'true_alarm', note: null, source: 'test', ts: 5 }), true);
  assert.equal(store.recordTiming('e1', 'inferredAt', 1), true);
});
