import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { Backoff } from '../../util/backoff.js';
import { EvidenceCopier } from './replica-evidence.js';
import type { FromReplica, ReplicaInit, ToReplica } from './replica-protocol.js';
import { ReplicaSync, type CycleResult, type RowCounts } from './replica-sync.js';

/**
 * The replica's thread: copies the primary's committed rows into the replica every `intervalMs`
 * (replica-sync.ts), then evidence files within a byte budget. Everything here is synchronous and
 * on this thread: a slow or failing replica volume blocks this thread only, never the store
 * writer or the frame path. A failure closes the copy and tries again with growing delay (1 s to
 * 30 s); the main thread (replica.ts) turns the messages into status, log lines and audit events.
 */

const init = workerData as ReplicaInit;
const port = parentPort;
if (!port) throw new Error('replica-worker.js runs as a worker thread only');

const sync = new ReplicaSync(init.primaryFile, init.replicaDir, { batch: init.batch });
const copier = init.evidence ? new EvidenceCopier(init.storageDir, init.replicaDir) : null;
const backoff = new Backoff({ minMs: 1000, maxMs: 30_000, healthyAfterMs: 0 });
/** Evidence rows are listed again only when some changed or some are still to copy. */
let evidenceDirty = true;
let timer: NodeJS.Timeout | undefined;
let closing = false;

const post = (m: FromReplica): void => port.postMessage(m);
const zero = (): RowCounts => ({ events: 0, outbox: 0, evidence: 0, reviews: 0 });
const add = (a: RowCounts, b: RowCounts): void => {
  a.events += b.events;
  a.outbox += b.outbox;
  a.evidence += b.evidence;
  a.reviews += b.reviews;
};

function checkDir(): void {
  let isDir = false;
  try {
    isDir = statSync(init.replicaDir).isDirectory();
  } catch {
    // Reported below.
  }
  // Never created here: a card that is not mounted must not be replaced by a folder on the root filesystem.
  if (!isDir) throw Object.assign(new Error(`the replica directory ${init.replicaDir} does not exist (is the card or disk mounted?)`), { code: 'ENOENT' });
}

/** One tick: rows until current (or 200 ms of batches), then evidence. True when the copy was reached. */
function tick(force: boolean): boolean {
  try {
    checkDir();
    const started = performance.now();
    const copied = zero();
    const removed = zero();
    let r: CycleResult;
    do {
      r = sync.cycle(force);
      add(copied, r.copied);
      add(removed, r.removed);
      if (copier && r.evidenceGone.length > 0) copier.drop(r.evidenceGone);
      if (r.copied.evidence > 0) evidenceDirty = true;
    } while (!r.complete && performance.now() - started < 200);
    if (copier && (evidenceDirty || copier.stats.pending > 0 || copier.busy)) {
      evidenceDirty = false;
      copier.copy(sync.evidenceRows(), init.evidenceBytesPerTick);
    }
    post({ type: 'tick', at: Date.now(), currentAsOf: r.complete ? r.snapshotAt : null, copied, removed, ms: performance.now() - started,
      evidence: { ...(copier?.stats ?? { copied: 0, bytes: 0, pending: 0, mismatched: 0 }) }, replaced: sync.replaced });
    sync.replaced = null;
    backoff.succeeded();
    return true;
  } catch (err) {
    sync.close();
    copier?.abort();
    evidenceDirty = true;
    const e = err as { code?: unknown; message?: unknown };
    post({ type: 'fault', fault: { code: typeof e.code === 'string' ? e.code : 'ERROR', message: typeof e.message === 'string' ? e.message : String(err) }, at: Date.now() });
    return false;
  }
}

function schedule(delayMs: number): void {
  if (closing) return;
  timer = setTimeout(() => schedule(tick(false) ? init.intervalMs : backoff.failed()), delayMs);
}

port.on('message', (m: ToReplica) => {
  if (m.type === 'flush') {
    clearTimeout(timer);
    const ok = tick(true);
    post({ type: 'flushed', id: m.id, ok });
    schedule(ok ? init.intervalMs : backoff.failed());
    return;
  }
  closing = true;
  clearTimeout(timer);
  sync.close();
  post({ type: 'closed' });
  port.close();
});

schedule(0);
