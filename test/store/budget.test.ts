import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Severity } from '../../daemon/config/schema.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { storageNoticeSchema, type StorageNotice } from '../../daemon/store/types.js';
import { tempDir } from '../helpers/shared.js';
import { newEvent, noticeOutbox, toOutbox } from './store-fixtures.js';

const KiB = 1024;

async function openStore(t: { after(fn: () => void): void }, budgetBytes: number, budgetCheckEvery = 1_000_000): Promise<EventStore> {
  const store = EventStore.open(await tempDir(t), { budgetBytes, budgetCheckEvery, notices: noticeOutbox });
  t.after(() => store.close());
  return store;
}

interface Row { id: string; severity: Severity; created_at: number; uplinked_at: number | null; kind: string }

function rows(store: EventStore): Row[] {
  return store.db.prepare('SELECT id, severity, created_at, uplinked_at, kind FROM events ORDER BY rowid').all() as Row[];
}

function notices(store: EventStore): StorageNotice[] {
  return rows(store).filter((r) => r.kind === 'storage').map((r) => storageNoticeSchema.parse(store.getEvent(r.id)?.payload['storage']));
}

test('over budget, delivered events go first, then pending info, warning, alert, critical, oldest first', async (t) => {
  let now = 1_000;
  const store = EventStore.open(await tempDir(t), { budgetBytes: 400 * KiB, budgetCheckEvery: 1_000_000, notices: noticeOutbox, now: () => now });
  t.after(() => store.close());
  const order: Severity[] = ['info', 'alert', 'warning', 'info', 'critical', 'alert', 'info', 'warning'];
  const all: Row[] = [];
  for (let i = 0; i < 800; i += 1) {
    now += 1;
    const e = store.recordEvent(newEvent(i, order[i % order.length]), toOutbox);
    all.push({ id: e.id, severity: e.severity, created_at: e.createdAt, uplinked_at: null, kind: e.kind });
  }
  // The 150 oldest alerts reached the hub.
  const delivered = all.filter((r) => r.severity === 'alert').slice(0, 150).map((r) => r.id);
  const seqs = store.peekOutbox(10_000).filter((r) => r.eventId !== null && delivered.includes(r.eventId)).map((r) => r.seq);
  assert.equal(store.ackOutbox(seqs), 150);
  assert.ok(store.storageStatus().usedBytes > 2 * 400 * KiB, 'the test starts well over budget');

  const run = store.enforceBudget();
  assert.ok(run);
  const status = store.storageStatus();
  assert.ok(status.usedBytes <= 400 * KiB * 0.9, `used ${status.usedBytes}`);

  const kept = new Set(rows(store).map((r) => r.id));
  const classes: [string, Row[]][] = [
    ['delivered', all.filter((r) => delivered.includes(r.id))],
    ...(['info', 'warning', 'alert', 'critical'] as const).map((s): [string, Row[]] =>
      [s, all.filter((r) => r.severity === s && !delivered.includes(r.id))]),
  ];
  let earlierAllGone = true;
  for (const [name, members] of classes) {
    const gone = members.filter((r) => !kept.has(r.id));
    if (gone.length > 0) assert.ok(earlierAllGone, `${name} evicted while a less important class was still kept`);
    // Oldest first within a class: every evicted row is older than every kept one.
    const keptHere = members.filter((r) => kept.has(r.id));
    if (gone.length > 0 && keptHere.length > 0) {
      assert.ok(Math.max(...gone.map((r) => r.created_at)) < Math.min(...keptHere.map((r) => r.created_at)), name);
    }
    earlierAllGone &&= keptHere.length === 0;
  }
  const lostInfo = classes[1]?.[1].filter((r) => !kept.has(r.id)).length ?? 0;
  assert.equal(lostInfo, classes[1]?.[1].length, 'this budget needs every info event gone');
  assert.ok(kept.has(all.filter((r) => r.severity === 'alert').at(-1)?.id ?? ''), 'the newest alert is kept');
  assert.ok(all.filter((r) => r.severity === 'critical').every((r) => kept.has(r.id)), 'no critical event lost');

  // The report says exactly what went, and commits with it.
  const [notice] = notices(store);
  assert.ok(notice?.kind === 'evicted');
  assert.equal(notice.delivered, 150);
  const lostIds = all.filter((r) => !kept.has(r.id) && !delivered.includes(r.id));
  const lostBy = (s: Severity): number => lostIds.filter((r) => r.severity === s).length;
  assert.deepEqual(notice.lost, { info: lostBy('info'), warning: lostBy('warning'), alert: lostBy('alert'), critical: 0 });
  assert.equal(notice.oldest_lost_ts, new Date(newEvent(0).ts).toISOString(), 'event 0 (info) was the oldest lost');
  assert.equal(notice.total_lost, lostIds.length);
  assert.equal(notice.budget_bytes, 400 * KiB);
  assert.deepEqual(status.evictions.lost, notice.lost);
  assert.equal(status.evictions.delivered, 150);
  assert.equal(status.evictions.runs, 1);
  assert.equal(status.evictions.oldestLostTs, newEvent(0).ts);
  // Lost events took their outbox rows with them; the notice has its own, most urgent.
  const outbox = store.peekOutbox(10_000);
  assert.ok(outbox.every((r) => r.eventId !== null && kept.has(r.eventId)));
  assert.equal(outbox.filter((r) => r.topic === 't/storage').length, 1);
  assert.equal(outbox[0]?.priority, 0);
  assert.equal(store.enforceBudget(), null, 'under budget now: nothing more goes');
});

test('recording never fails over budget: the budget is enforced every N inserts and the newest alerts stay', async (t) => {
  const store = await openStore(t, 256 * KiB, 50);
  const ids: string[] = [];
  let maxUsed = 0;
  for (let i = 0; i < 3_000; i += 1) {
    ids.push(store.recordEvent(newEvent(i, 'alert'), toOutbox).id);
    maxUsed = Math.max(maxUsed, store.storageStatus().usedBytes);
  }
  const status = store.storageStatus();
  // Between two checks at most 50 events (~60 KiB) are added above the budget.
  assert.ok(maxUsed < 256 * KiB + 100 * KiB, `peak ${maxUsed}`);
  assert.ok(status.fileBytes < 256 * KiB + 200 * KiB, `file ${status.fileBytes}: free pages are reused`);
  assert.ok(status.evictions.runs > 1);
  const kept = new Set(rows(store).map((r) => r.id));
  assert.ok(ids.slice(-100).every((id) => kept.has(id)), 'the newest 100 alerts are all kept');
  const lost = ids.filter((id) => !kept.has(id));
  const reports = notices(store);
  // One running report: with nothing sent meanwhile, every run was merged into the one waiting, and
  // a waiting report is never evicted itself, so its figures are every run's.
  assert.equal(reports.length, 1);
  const last = reports[0];
  assert.ok(last?.kind === 'evicted');
  assert.equal(last.runs, status.evictions.runs);
  assert.equal(status.evictions.lost.alert, lost.length, 'every lost alert is counted');
  assert.equal(last.lost.alert, lost.length);
  assert.equal(last.total_lost, lost.length);
});

test('only delivered events evicted: nothing is lost, and the report says so at info severity', async (t) => {
  // 224 KiB: 200 for the events, and 24 for the six pages of migration 3's empty tables and their keys.
  const store = await openStore(t, 224 * KiB);
  const events = store.recordEvents(Array.from({ length: 400 }, (_, i) => newEvent(i, 'alert')), toOutbox);
  store.ackOutbox(store.peekOutbox(300).map((r) => r.seq));
  const run = store.enforceBudget();
  assert.ok(run);
  assert.equal(run.lost.alert, 0);
  assert.ok(run.delivered > 0);
  const pending = events.slice(300).map((e) => e.id);
  assert.ok(pending.every((id) => store.getEvent(id)), 'no pending event was touched');
  const notice = rows(store).find((r) => r.kind === 'storage');
  assert.equal(notice?.severity, 'info');
});

test('batches: recordEvents is all or nothing, acks and attempts go in one transaction, sync stays FULL for events', async (t) => {
  const store = await openStore(t, 1024 * KiB);
  assert.throws(() => store.recordEvents([newEvent(1), newEvent(2)], (e) => {
    if (e.ts === newEvent(2).ts) throw new Error('bad message');
    return toOutbox(e);
  }), /bad message/);
  assert.equal(store.listEvents().length, 0, 'the first event went with the second');

  const stored = store.recordEvents([newEvent(1, 'info'), newEvent(2, 'critical'), newEvent(3, 'info')], toOutbox);
  assert.equal(stored.length, 3);
  const byPriority = store.outboxByPriority();
  assert.deepEqual(byPriority.map((p) => [p.priority, p.depth]), [[0, 1], [3, 2]]);
  const seqs = store.peekOutbox(10).map((r) => r.seq);
  store.markAttempts(seqs);
  store.markAttempts(seqs.slice(0, 1));
  assert.deepEqual(store.peekOutbox(10).map((r) => r.attempts), [2, 1, 1]);
  assert.equal(store.ackOutbox([...seqs, 999_999]), 3, 'an unknown seq is skipped');
  assert.equal(store.ackOutbox(seqs), 0, 'a second PUBACK is harmless');
  assert.ok(stored.every((e) => store.getEvent(e.id)?.uplinkedAt !== null));
  assert.equal(store.db.pragma('synchronous', { simple: true }), 2, 'FULL again after the relaxed acks');
});

test('eviction reports: merged while unsent, a new one once handed over, never evicted, and their sums are every evicted event', async (t) => {
  const store = await openStore(t, 96 * KiB);
  const made: string[] = [];
  for (let round = 0; round < 3; round += 1) {
    made.push(...store.recordEvents(Array.from({ length: 300 }, (_, i) => newEvent(round * 300 + i, 'alert')), toOutbox).map((e) => e.id));
    assert.ok(store.enforceBudget(), `round ${round} evicted`);
    // After the second run the uplink hands the report to the MQTT client: it may be at the hub
    // under its id now, so nothing more may be merged into it.
    if (round === 1) store.markAttempts(store.peekOutbox(10).filter((r) => r.topic === 't/storage').map((r) => r.seq));
  }
  const reports = notices(store);
  assert.deepEqual(reports.map((r) => r.kind === 'evicted' && r.runs), [2, 1]);
  const gone = made.filter((id) => !store.getEvent(id)).length;
  assert.ok(gone > 600);
  const lostAlerts = reports.reduce((n, r) => n + (r.kind === 'evicted' ? r.lost.alert : 0), 0);
  assert.equal(lostAlerts, gone, 'the reports add up to every evicted event, none counted twice');
  assert.equal(store.storageStatus().evictions.runs, 3);
  // Each report has exactly one outbox row, built from its merged figures.
  const queued = store.peekOutbox(10_000).filter((r) => r.topic === 't/storage');
  assert.equal(queued.length, 2);
  const sent = queued.map((r) => (JSON.parse(r.payload) as { storage: StorageNotice }).storage);
  assert.deepEqual(sent, reports);

  // A budget nothing fits in: every event goes, the waiting reports stay (they are how the hub learns of it).
  const tiny = await openStore(t, 1);
  tiny.recordEvents(Array.from({ length: 200 }, (_, i) => newEvent(i, 'critical')), toOutbox);
  tiny.enforceBudget();
  tiny.enforceBudget();
  const left = rows(tiny);
  assert.ok(left.every((r) => r.kind === 'storage'), 'only reports are left');
  assert.equal(left.length, 1);
  const [only] = notices(tiny);
  assert.equal(only?.kind === 'evicted' && only.lost.critical, 200);
});
