import assert from 'node:assert/strict';
import { mkdirSync, rmSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { EventStore } from '../../daemon/store/event-store.js';
import { DATABASE_FILE } from '../../daemon/store/open.js';
import { Replicator, type ReplicaReport } from '../../daemon/store/replica/replica.js';
import { REPLICA_FILE } from '../../daemon/store/replica/replica-sync.js';
import { StoreWriter } from '../../daemon/store/store-writer.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { stopBeforeTempDirsRemoved, tempDir, waitFor } from '../helpers/shared.js';
import { alertEvent, captureLogger, device } from '../uplink/harness.js';
import { loopExt4 } from './storage-fs.js';
import { fillUp, smallTmpfs } from './tmpfs.js';

/**
 * The replicator against the real store writer (its worker thread, FULL fsync per commit) and real
 * SQLite files: how far behind the copy is while events flow, what it costs the writer, and that a
 * replica volume that fails never stops an event.
 */

interface Rig {
  store: EventStore;
  writer: StoreWriter;
  /** Commit time (performance.now) of each accepted event, by id; and record → commit, ms. */
  committed: Map<string, number>;
  acceptMs: number[];
  record(i: number): void;
}

function rig(t: TestContext, dir: string): Rig {
  const store = EventStore.open(dir, { recover: true });
  const writer = new StoreWriter({ file: path.join(dir, DATABASE_FILE), store, device, log: captureLogger('warn').log, publisher: () => null });
  stopBeforeTempDirsRemoved(t, async () => {
    await writer.close(500);
    if (store.db.open) store.close();
  });
  const committed = new Map<string, number>();
  const acceptMs: number[] = [];
  return {
    store, writer, committed, acceptMs,
    record: (i) => {
      const at = performance.now();
      writer.record(alertEvent(i), alertOutbox(device), (e, durable) => {
        assert.ok(durable, 'accepted durably');
        const now = performance.now();
        committed.set(e.id, now);
        acceptMs.push(now - at);
      });
    },
  };
}

function replicator(t: TestContext, dir: string, replicaDir: string, reports: ReplicaReport[] = [], intervalMs = 250): Replicator {
  const r = new Replicator({
    primaryFile: path.join(dir, DATABASE_FILE), storageDir: dir, log: captureLogger('warn').log, onReport: (x) => reports.push(x),
    settings: { dir: replicaDir, interval_ms: intervalMs, max_lag_ms: 1000, evidence: true },
  });
  r.start();
  stopBeforeTempDirsRemoved(t, () => r.stop(500));
  return r;
}

/** Events at `perSecond` for `ms`, each `record`ed on a timer, as the recorder hands them over. */
async function flow(r: Rig, perSecond: number, ms: number, from = 0): Promise<number> {
  const n = Math.round((perSecond * ms) / 1000);
  const started = performance.now();
  for (let i = 0; i < n; i += 1) {
    r.record(from + i);
    const due = started + ((i + 1) * 1000) / perSecond - performance.now();
    if (due > 0) await new Promise((res) => setTimeout(res, due));
  }
  await waitFor('every event committed', () => (r.committed.size >= from + n || undefined), 10_000, 5);
  return n;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

/** Polls the copy every 10 ms and records when each event id first appears in it. */
function watchCopy(file: string): { seen: Map<string, number>; stop: () => void } {
  const seen = new Map<string, number>();
  let db: BetterSqlite3.Database | null = null;
  let last = 0;
  const timer = setInterval(() => {
    try {
      db ??= new BetterSqlite3(file, { readonly: true, fileMustExist: true });
      for (const row of db.prepare('SELECT rowid AS r, id FROM events WHERE rowid > ? ORDER BY rowid').all(last) as { r: number; id: string }[]) {
        seen.set(row.id, performance.now());
        last = row.r;
      }
    } catch {
      // Not created yet.
    }
  }, 10);
  return { seen, stop: () => { clearInterval(timer); db?.close(); } };
}

test('the copy stays within its lag bound while events flow, and what it costs the store writer', async (t) => {
  const dir = await tempDir(t);
  const replicaDir = path.join(dir, 'card');
  mkdirSync(replicaDir);
  const r = rig(t, dir);

  // Without a replica: 100 events/s for 2 s (tens of times a real camera's rate), after a warm-up.
  await flow(r, 100, 500);
  r.acceptMs.length = 0;
  await flow(r, 100, 2000, r.committed.size);
  const without = [...r.acceptMs];
  r.acceptMs.length = 0;

  const rep = replicator(t, dir, replicaDir);
  const watch = watchCopy(path.join(replicaDir, REPLICA_FILE));
  t.after(() => watch.stop());
  await waitFor('the first copy', () => (rep.status().state === 'ok' || undefined), 5000);
  const before = r.committed.size;
  const n = await flow(r, 100, 2000, before);
  const withReplica = [...r.acceptMs];
  await waitFor('every event in the copy', () => ([...r.committed.keys()].every((id) => watch.seen.has(id)) || undefined), 5000, 10);
  watch.stop();

  const lags = [...r.committed.entries()].slice(before).map(([id, at]) => watch.seen.get(id)! - at);
  const status = rep.status();
  t.diagnostic(`replication lag over ${n} events at 100/s (interval 250 ms): p50 ${pct(lags, 50).toFixed(0)} ms, ` +
    `p99 ${pct(lags, 99).toFixed(0)} ms, max ${Math.max(...lags).toFixed(0)} ms; status max_lag_ms ${status.max_lag_ms}, last tick ${status.last_tick_ms?.toFixed(1)} ms`);
  t.diagnostic(`store writer record→commit without replica: p50 ${pct(without, 50).toFixed(2)} ms, p99 ${pct(without, 99).toFixed(2)} ms; ` +
    `with: p50 ${pct(withReplica, 50).toFixed(2)} ms, p99 ${pct(withReplica, 99).toFixed(2)} ms`);
  assert.ok(Math.max(...lags) <= 1000, `every event in the copy within 1 s of its commit (max ${Math.max(...lags).toFixed(0)} ms)`);
  assert.ok(status.max_lag_ms <= 1000, `the status agrees (${status.max_lag_ms} ms)`);
  assert.equal(status.state, 'ok');
  assert.equal(status.copied.events, r.committed.size, 'the events from before the replica started are copied too');
  // Loose on a shared 2-core machine: the copy must not make commits several times slower.
  assert.ok(pct(withReplica, 50) <= pct(without, 50) * 3 + 5, 'the writer is not slowed measurably');
});

test('a replica volume that fills up: events are still accepted, the copy reports degraded, and catches up by itself once there is room', async (t) => {
  const dir = await tempDir(t);
  const card = await smallTmpfs(t, 3);
  const reports: ReplicaReport[] = [];
  const r = rig(t, dir);
  const rep = replicator(t, dir, card, reports, 100);
  await flow(r, 200, 300);
  await waitFor('the first copy', () => (rep.status().state === 'ok' || undefined), 5000);

  const filler = fillUp(card);
  const acceptedBefore = r.committed.size;
  await flow(r, 200, 1500, acceptedBefore);
  const degraded = await waitFor('the copy degraded', () => (rep.status().state === 'degraded' ? rep.status() : undefined), 5000);
  assert.match(degraded.reason ?? '', /full/);
  assert.ok(reports.some((x) => x.kind === 'degraded'), 'reported (an audit record in the daemon)');
  assert.equal(r.writer.health().state, 'ok', 'the primary is untouched');
  assert.equal(r.committed.size, acceptedBefore + 300, 'every event accepted while the copy failed');
  assert.ok(pct(r.acceptMs.slice(-300), 99) < 500, 'and promptly');

  unlinkSync(filler);
  await waitFor('the copy recovered', () => (rep.status().state === 'ok' || undefined), 10_000);
  await rep.flush();
  const copy = new BetterSqlite3(path.join(card, REPLICA_FILE), { readonly: true });
  t.after(() => copy.close());
  const inCopy = new Set(copy.prepare('SELECT id FROM events').pluck().all() as string[]);
  assert.deepEqual([...r.committed.keys()].filter((id) => !inCopy.has(id)), [], 'the copy caught up with every event');
  assert.ok(reports.some((x) => x.kind === 'recovered'));
  t.diagnostic(`reports: ${reports.map((x) => x.kind).join(', ')}; faults ${rep.status().faults}`);
});

test('a replica volume that turns read-only (a failing card) or disappears: events are still accepted and it is reported', async (t) => {
  const dir = await tempDir(t);
  const fs = await loopExt4(t, 8);
  const reports: ReplicaReport[] = [];
  const r = rig(t, dir);
  const rep = replicator(t, dir, fs.dir, reports, 100);
  await flow(r, 200, 300);
  await waitFor('the first copy', () => (rep.status().state === 'ok' || undefined), 5000);
  fs.failReadOnly();
  assert.ok(fs.readOnly());
  await flow(r, 200, 1000, r.committed.size);
  const degraded = await waitFor('the copy degraded', () => (rep.status().state === 'degraded' ? rep.status() : undefined), 5000);
  assert.match(degraded.reason ?? '', /read-only|cannot be opened|I\/O/);
  assert.equal(r.committed.size, 260);
  assert.equal(r.writer.health().state, 'ok');
  t.diagnostic(`read-only card: ${degraded.reason ?? ''}`);

  // A directory that goes away (an unmounted card) is reported as such, never created again.
  const gone = path.join(dir, 'usb');
  mkdirSync(gone);
  const reports2: ReplicaReport[] = [];
  const rep2 = replicator(t, dir, gone, reports2, 100);
  await waitFor('the second copy', () => (rep2.status().state === 'ok' || undefined), 5000);
  await rep2.stop(500);
  rmSync(gone, { recursive: true });
  const rep3 = replicator(t, dir, gone, reports2, 100);
  const missing = await waitFor('missing reported', () => (rep3.status().state === 'degraded' ? rep3.status() : undefined), 5000);
  assert.match(missing.reason ?? '', /missing/);
  await flow(r, 200, 200, r.committed.size);
  mkdirSync(gone);
  await waitFor('the copy back once the directory is', () => (rep3.status().state === 'ok' || undefined), 5000);
});
