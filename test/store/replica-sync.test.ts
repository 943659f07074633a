import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { EventStore } from '../../daemon/store/event-store.js';
import { DATABASE_FILE } from '../../daemon/store/open.js';
import { restoreFromReplica } from '../../daemon/store/replica/replica-restore.js';
import { REPLICA_FILE, ReplicaSync } from '../../daemon/store/replica/replica-sync.js';
import { tempDir } from '../helpers/shared.js';
import { newEvent, toOutbox } from './store-fixtures.js';

/** The rows a table holds, by key, as the test compares them between the primary and the copy. */
function rows(file: string, sql: string): unknown[] {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

const EVENTS = 'SELECT rowid, id, payload, uplinked_at, severity FROM events ORDER BY rowid';
const OUTBOX = 'SELECT seq, event_id, topic, payload FROM outbox ORDER BY seq';
const EVIDENCE = 'SELECT event_id, kind, path, sha256, delivered_bytes, refused FROM evidence_files ORDER BY event_id, kind';
const REVIEWS = 'SELECT event_id, verdict FROM reviews ORDER BY event_id';

function assertSame(primary: string, replica: string): void {
  for (const sql of [EVENTS, OUTBOX, EVIDENCE, REVIEWS]) assert.deepEqual(rows(replica, sql), rows(primary, sql), sql);
}

test('the copy follows inserts, acknowledgements, follow-ups, evictions, evidence rows and reviews, and resumes after a restart', async (t) => {
  const dir = await tempDir(t);
  const replicaDir = path.join(dir, 'replica');
  mkdirSync(replicaDir);
  const store = EventStore.open(dir, { recover: true });
  t.after(() => store.close());
  const primary = path.join(dir, DATABASE_FILE);
  const sync = new ReplicaSync(primary, replicaDir, { batch: 50, reconcileEveryMs: 60_000 });
  t.after(() => sync.close());

  const first = store.recordEvents(Array.from({ length: 120 }, (_, i) => newEvent(i)), toOutbox);
  // A batch of 50: three cycles to catch up, the last one complete.
  const results = [sync.cycle(), sync.cycle(), sync.cycle()];
  assert.deepEqual(results.map((r) => r.complete), [false, false, true]);
  assertSame(primary, sync.file);
  assert.equal(sync.cycle().skipped, true, 'nothing committed since: nothing read');

  // Acknowledgements (outbox rows go, events get uplinked_at), a follow-up, evidence, a review.
  const acked = store.peekOutbox(30).map((r) => r.seq);
  assert.equal(store.ackOutbox(acked), 30);
  store.enqueueForEvent(first[100]!.id, toOutbox, { merge: { ended_at: 'later', duration_s: 4 } });
  const evidenceFile = path.join(dir, 'evidence', 'gate', 'a.jpg');
  mkdirSync(path.dirname(evidenceFile), { recursive: true });
  writeFileSync(evidenceFile, 'jpeg');
  assert.ok(store.addEvidenceFile({ eventId: first[5]!.id, kind: 'snapshot', path: evidenceFile, bytes: 4, sha256: 'ab'.repeat(32), width: 1, height: 1, createdAt: Date.now() }));
  assert.ok(store.reviewEvent({ event_id: first[6]!.id, verdict: 'false_alarm', note: null, source: 'test', ts: Date.now() }));
  const r = sync.cycle();
  assert.equal(r.removed.outbox, 30);
  assertSame(primary, sync.file);
  store.mergePayload(first[101]!.id, { quiet: true });
  sync.cycle();
  // A merge without a message (the end of an activity that is not sent) waits for the reconcile pass.
  const merged = rows(sync.file, `SELECT payload FROM events WHERE id = '${first[101]!.id}'`) as { payload: string }[];
  assert.equal((JSON.parse(merged[0]!.payload) as { quiet?: boolean }).quiet, undefined, 'not seen before the reconcile pass');

  // Evictions: the oldest events go on the primary; then the newest too, and their rowids are handed out again.
  store.db.prepare('DELETE FROM outbox WHERE event_id IN (SELECT id FROM events ORDER BY rowid LIMIT 10)').run();
  store.db.prepare('DELETE FROM events WHERE rowid IN (SELECT rowid FROM events ORDER BY rowid LIMIT 10)').run();
  store.db.prepare('DELETE FROM outbox WHERE event_id IN (SELECT id FROM events ORDER BY rowid DESC LIMIT 3)').run();
  store.db.prepare('DELETE FROM events WHERE rowid IN (SELECT rowid FROM events ORDER BY rowid DESC LIMIT 3)').run();
  store.recordEvents([newEvent(500), newEvent(501)], toOutbox);
  sync.close();
  // A restart (a new sync on the same copy) resumes from what the copy holds; the reconcile pass runs at once.
  const again = new ReplicaSync(primary, replicaDir, { batch: 50 });
  t.after(() => again.close());
  again.cycle();
  assertSame(primary, again.file);
  const after = rows(again.file, `SELECT payload FROM events WHERE id = '${first[101]!.id}'`) as { payload: string }[];
  assert.equal((JSON.parse(after[0]!.payload) as { quiet?: boolean }).quiet, true, 'the reconcile pass copied the merge');
  assert.equal(again.replaced, null);
});

test('a copy of another database (the primary started empty while the card was away) is moved aside, never followed', async (t) => {
  const dir = await tempDir(t);
  const replicaDir = path.join(dir, 'replica');
  mkdirSync(replicaDir);
  const a = path.join(dir, 'a');
  const storeA = EventStore.open(a, { recover: true });
  storeA.recordEvents([newEvent(1), newEvent(2)], toOutbox);
  const syncA = new ReplicaSync(path.join(a, DATABASE_FILE), replicaDir);
  syncA.cycle();
  syncA.close();
  storeA.close();
  const b = path.join(dir, 'b');
  const storeB = EventStore.open(b, { recover: true });
  t.after(() => storeB.close());
  storeB.recordEvents([newEvent(3)], toOutbox);
  const syncB = new ReplicaSync(path.join(b, DATABASE_FILE), replicaDir);
  t.after(() => syncB.close());
  syncB.cycle();
  assert.ok(syncB.replaced !== null && readdirSync(replicaDir).includes(path.basename(syncB.replaced)), 'the old copy kept aside');
  assertSame(path.join(b, DATABASE_FILE), syncB.file);
  assert.equal((rows(syncB.replaced, 'SELECT count(*) AS n FROM events')[0] as { n: number }).n, 2);
});

test('restore: a missing primary comes back from the copy; a quarantined one too, with the rows only it still had salvaged', async (t) => {
  const dir = await tempDir(t);
  const replicaDir = path.join(dir, 'replica');
  mkdirSync(replicaDir);
  const store = EventStore.open(dir, { recover: true });
  const primary = path.join(dir, DATABASE_FILE);
  const events = store.recordEvents(Array.from({ length: 40 }, (_, i) => newEvent(i)), toOutbox);
  store.ackOutbox(store.peekOutbox(10).map((r) => r.seq));
  // A snapshot whose copy is on the card; the card-failure case loses the primary's file.
  const jpeg = Buffer.from('not really a jpeg, but bytes with a sha256');
  const snapshot = path.join(dir, 'evidence', 'gate', `${events[3]!.id}.jpg`);
  for (const f of [snapshot, path.join(replicaDir, 'evidence', 'gate', `${events[3]!.id}.jpg`)]) {
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, jpeg);
  }
  assert.ok(store.addEvidenceFile({ eventId: events[3]!.id, kind: 'snapshot', path: snapshot, bytes: jpeg.length,
    sha256: createHash('sha256').update(jpeg).digest('hex'), width: 1, height: 1, createdAt: Date.now() }));
  const sync = new ReplicaSync(primary, replicaDir);
  sync.cycle();
  sync.close();
  // After the last copy: five more events (within the lag) and one more acknowledgement.
  const late = store.recordEvents(Array.from({ length: 5 }, (_, i) => newEvent(100 + i)), toOutbox);
  store.ackOutbox(store.peekOutbox(1).map((r) => r.seq));
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();

  // The primary as recovery.ts leaves a damaged one, moved aside: what the copy lacks is read from it.
  const damaged = path.join(dir, 'vigil.corrupt-x.db');
  copyFileSync(primary, damaged);
  unlinkSync(snapshot);
  const report = restoreFromReplica({ replicaDir, target: path.join(dir, 'restored.db'), corrupt: damaged });
  assert.ok(report);
  assert.equal(report.evidence_restored, 1);
  assert.equal(report.evidence_failed, 0);
  assert.deepEqual(readFileSync(snapshot), jpeg, 'the snapshot put back from the card, before anything is sent');
  assert.equal(report.method, 'copy');
  assert.equal(report.salvage_error, null);
  assert.equal(report.salvaged?.events, 5, 'the five events after the last copy');
  assert.equal(report.salvaged?.uplinked, 1, 'the late acknowledgement');
  assert.equal(report.events, 45);
  const restoredIds = (rows(path.join(dir, 'restored.db'), 'SELECT id FROM events') as { id: string }[]).map((r) => r.id).sort();
  assert.deepEqual(restoredIds, [...events, ...late].map((e) => e.id).sort());
  assert.equal(report.outbox, 35, '45 events, 10 + 1 acknowledged; the late ack\'s row is sent again (at least once)');

  // Missing: no damaged file at all.
  const none = restoreFromReplica({ replicaDir, target: path.join(dir, 'fresh.db'), corrupt: null });
  assert.equal(none?.events, 40);
  assert.equal(none?.salvaged, null);
  assert.equal(restoreFromReplica({ replicaDir: path.join(dir, 'nowhere'), target: path.join(dir, 'x.db'), corrupt: null }), null);
  assert.ok(readdirSync(replicaDir).includes(REPLICA_FILE));
});
