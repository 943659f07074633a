import { writeTransaction } from './write-transaction.js';
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import type { BatchReply, FromWorker, ToWorker, WireMessage, WorkerInit, WriteOp } from './store-writer-protocol.js';
import { classifyWriteFailure } from './write-failure.js';

/**
 * The store writer's thread: its own connection to the daemon's WAL database, committing the
 * events the main thread hands over in order, with synchronous=FULL, so that the fsync of every
 * commit (and of every checkpoint) happens here and never on the thread that runs the analysis.
 * The schema is the main connection's business: it migrated the file before this thread started.
 */

const init = workerData as WorkerInit;
const port = parentPort;
if (!port) throw new Error('store-writer-worker.js runs as a worker thread only');

interface Prepared {
  db: Database;
  insertEvent: Statement<[string, number, string, string, string, string, string, number]>;
  markUplinked: Statement<[number, string]>;
  insertOutbox: Statement<[string | null, string, string, number, number, number, Buffer | null]>;
  patch: Statement<[string, string]>;
  exists: Statement<[string], number>;
  drop: Statement<[string, string]>;
}

let current: Prepared | null = null;

/** Opened lazily and again after a fault: a disk that comes back may need a fresh file handle. */
function open(): Prepared {
  if (current) return current;
  const db = new BetterSqlite3(init.file, { fileMustExist: true });
  try {
    db.pragma(`busy_timeout = ${init.busyTimeoutMs}`);
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // The WAL bound of open.ts: this connection writes most of the frames, so it checkpoints and cuts
    // the file back at the same point, or the disk budget's WAL part would not hold.
    db.pragma(`wal_autocheckpoint = ${Math.max(1, Math.floor(init.walLimitBytes / 4096))}`);
    db.pragma(`journal_size_limit = ${init.walLimitBytes}`);
    current = {
      db,
      insertEvent: db.prepare(`INSERT INTO events (id, ts, stream, rule, severity, kind, payload, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      markUplinked: db.prepare('UPDATE events SET uplinked_at = ? WHERE id = ?'),
      insertOutbox: db.prepare(`INSERT INTO outbox (event_id, topic, payload, qos, priority, created_at, payload_blob)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      patch: db.prepare('UPDATE events SET payload = json_patch(payload, ?) WHERE id = ?'),
      exists: db.prepare('SELECT 1 FROM events WHERE id = ?').pluck() as Statement<[string], number>,
      // As EventStore.enqueueForEvent: CASE, so that a binary row's empty payload is never parsed.
      drop: db.prepare(`DELETE FROM outbox WHERE event_id = ?
        AND CASE WHEN payload_blob IS NULL AND evidence_kind IS NULL THEN json_extract(payload, '$.activity') END IN (SELECT value FROM json_each(?))`),
    };
    return current;
  } catch (err) {
    db.close();
    throw err;
  }
}

function reset(): void {
  const c = current;
  current = null;
  try {
    c?.db.close();
  } catch {
    // A connection on a failed disk may not close cleanly; the next open starts afresh.
  }
}

function queue(p: Prepared, eventId: string, m: WireMessage, at: number): void {
  p.insertOutbox.run(eventId, m.topic, m.payload, m.qos, m.priority, at, m.blob ? Buffer.from(m.blob) : null);
}

function apply(p: Prepared, op: WriteOp): void {
  switch (op.op) {
    case 'record': {
      const e = op.event;
      p.insertEvent.run(e.id, e.ts, e.stream, e.rule, e.severity, e.kind, e.payload, e.createdAt);
      if (op.uplinkedAt !== null) p.markUplinked.run(op.uplinkedAt, e.id);
      if (op.message) queue(p, e.id, op.message, e.createdAt);
      return;
    }
    case 'follow': {
      if (op.merge !== null) p.patch.run(op.merge, op.eventId);
      if (p.exists.get(op.eventId) === undefined) return;
      p.drop.run(op.eventId, op.supersede);
      if (op.message) queue(p, op.eventId, op.message, Date.now());
      return;
    }
    case 'merge':
      p.patch.run(op.fields, op.eventId);
  }
}

function runBatch(id: number, ops: WriteOp[]): BatchReply {
  const started = performance.now();
  const reply = (done: number, errors: BatchReply['errors'], fault: BatchReply['fault']): BatchReply =>
    ({ type: 'batch', id, done, errors, fault, commitMs: performance.now() - started });
  let p: Prepared;
  try {
    p = open();
  } catch (err) {
    const c = classifyWriteFailure(err);
    return reply(0, [], { code: c?.code ?? 'SQLITE_CANTOPEN', message: err instanceof Error ? err.message : String(err) });
  }
  // Group commit: every op queued while the last commit ran shares this one's fsync.
  try {
    writeTransaction(p.db, () => { for (const op of ops) apply(p, op); })();
    return reply(ops.length, [], null);
  } catch (err) {
    const c = classifyWriteFailure(err);
    if (c) {
      reset();
      return reply(0, [], { code: c.code, message: c.message });
    }
  }
  // One op is bad (a bug, a constraint): commit the others one by one, so only that one is refused.
  const errors: BatchReply['errors'] = [];
  for (let i = 0; i < ops.length; i += 1) {
    const op = ops[i]!;
    try {
      writeTransaction(p.db, () => apply(p, op))();
    } catch (err) {
      const c = classifyWriteFailure(err);
      if (c) {
        reset();
        return reply(i, errors, { code: c.code, message: c.message });
      }
      errors.push({ index: i, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return reply(ops.length, errors, null);
}

const post = (m: FromWorker): void => port.postMessage(m);

// The main connection has wal_autocheckpoint off; its relaxed writes (acknowledgements) are
// checkpointed here, where the checkpoint's fsync costs no frame.
const checkpoints = setInterval(() => {
  if (!current) return;
  try {
    current.db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    const c = classifyWriteFailure(err);
    if (c) {
      reset();
      post({ type: 'checkpoint-failed', fault: { code: c.code, message: c.message } });
    }
  }
}, init.checkpointEveryMs);

port.on('message', (m: ToWorker) => {
  if (m.type === 'batch') {
    post(runBatch(m.id, m.ops));
    return;
  }
  clearInterval(checkpoints);
  reset();
  post({ type: 'closed' });
  port.close();
});
