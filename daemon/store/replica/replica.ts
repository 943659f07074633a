import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { EvidenceCopyStats } from './replica-evidence.js';
import type { ReplicaStatus } from './replica-status.js';
import type { FromReplica, ReplicaFault, ReplicaInit, ToReplica } from './replica-protocol.js';
import { REPLICA_FILE, type RowCounts } from './replica-sync.js';

export type { ReplicaStatus } from './replica-status.js';
import path from 'node:path';

export interface ReplicaSettings {
  dir: string;
  interval_ms: number;
  max_lag_ms: number;
  evidence: boolean;
}

/** What is worth an audit record: the copy failing, coming back, or a foreign copy moved aside. */
export type ReplicaReport =
  | { kind: 'degraded'; reason: string; code: string }
  | { kind: 'recovered'; degraded_s: number }
  | { kind: 'replaced'; moved_to: string };

const LAG_CHECK_MS = 250;

export interface ReplicatorOptions {
  primaryFile: string;
  storageDir: string;
  settings: ReplicaSettings;
  log: Logger;
  onReport?: (report: ReplicaReport) => void;
  /** Evidence bytes copied per tick at most (default 4 MiB: about 0.2 s on a 20 MB/s card). */
  evidenceBytesPerTick?: number;
  batch?: number;
}

/**
 * The event database's continuous copy on another volume (docs/data-replication.md): a worker
 * thread (replica-worker.ts) copies committed rows every `interval_ms`; this side keeps the status
 * and reports a copy that fails or falls behind, once when it starts and once when it ends. Nothing
 * here waits on the copy except `stop`, which gives it a bounded last chance to catch up.
 */
export class Replicator {
  private worker: Worker | null = null;
  private readonly log: Logger;
  private readonly settings: ReplicaSettings;
  private currentAsOf: number | null = null;
  private readonly startedAt = Date.now();
  private fault: (ReplicaFault & { reason: string; since: number }) | null = null;
  private behindSince: number | null = null;
  private reported: 'ok' | 'degraded' = 'ok';
  private degradedSince = 0;
  private lastCheckAt = Date.now();
  private readonly copied: RowCounts = { events: 0, outbox: 0, evidence: 0, reviews: 0 };
  private readonly removed: RowCounts = { events: 0, outbox: 0, evidence: 0, reviews: 0 };
  private evidence: EvidenceCopyStats = { copied: 0, bytes: 0, pending: 0, mismatched: 0 };
  private faults = 0;
  private lastTickMs: number | null = null;
  private maxLag = 0;
  private flushId = 0;
  private readonly flushes = new Map<number, (ok: boolean) => void>();
  private lagTimer: NodeJS.Timeout | undefined;
  private readonly sameVolume: boolean;

  constructor(private readonly opts: ReplicatorOptions) {
    this.log = opts.log;
    this.settings = opts.settings;
    this.sameVolume = sameFilesystem(opts.storageDir, opts.settings.dir);
  }

  get file(): string {
    return path.join(this.settings.dir, REPLICA_FILE);
  }

  start(): void {
    if (this.worker) return;
    if (this.sameVolume) {
      this.log.warn({ dir: this.settings.dir, storage: this.opts.storageDir },
        'the replica is on the same filesystem as the database: it covers a corrupt file, not a failed disk');
    }
    const init: ReplicaInit = {
      primaryFile: this.opts.primaryFile, storageDir: this.opts.storageDir, replicaDir: this.settings.dir,
      intervalMs: this.settings.interval_ms, evidence: this.settings.evidence,
      evidenceBytesPerTick: this.opts.evidenceBytesPerTick ?? 4 * 1024 * 1024, batch: this.opts.batch ?? 2000,
    };
    const worker = new Worker(new URL('./replica-worker.js', import.meta.url), { workerData: init });
    worker.on('message', (m: FromReplica) => this.guard(() => this.onMessage(m)));
    worker.on('error', (err) => this.guard(() => this.onFault({ code: 'WORKER', message: errorMessage(err) }, Date.now())));
    worker.unref();
    this.worker = worker;
    this.lagTimer = setInterval(() => this.guard(() => this.checkLag(true)), LAG_CHECK_MS);
    this.lagTimer.unref();
    this.log.info({ dir: this.settings.dir, interval_ms: this.settings.interval_ms, evidence: this.settings.evidence }, 'replica started');
  }

  /** Asks for a copy now; true when it reached the copy within `timeoutMs`. */
  flush(timeoutMs = 2000): Promise<boolean> {
    const worker = this.worker;
    if (!worker) return Promise.resolve(false);
    const id = ++this.flushId;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.flushes.delete(id);
        resolve(false);
      }, timeoutMs);
      this.flushes.set(id, (ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
      worker.postMessage({ type: 'flush', id } satisfies ToReplica);
    });
  }

  /** A last copy (the store writer has committed its last events by now), then the thread ends. */
  async stop(deadlineMs = 1500): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    clearInterval(this.lagTimer);
    worker.ref();
    const ok = await this.flush(deadlineMs);
    if (!ok) this.log.warn({ dir: this.settings.dir }, 'replica: the last copy at stop did not complete; the copy may miss the last events');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { void worker.terminate().then(() => resolve()); }, 1000);
      worker.once('exit', () => { clearTimeout(timer); resolve(); });
      worker.postMessage({ type: 'close' } satisfies ToReplica);
    });
    this.worker = null;
  }

  status(): ReplicaStatus {
    const lag = this.lag();
    const state = this.fault ? 'degraded' : this.behindSince !== null ? 'behind' : this.currentAsOf === null ? 'starting' : 'ok';
    return {
      state, dir: this.settings.dir, file: this.file,
      reason: this.fault?.reason ?? (this.behindSince !== null ? `the copy is ${Math.round(lag ?? 0)} ms behind (bound ${this.settings.max_lag_ms} ms)` : null),
      since: this.fault?.since ?? this.behindSince, lag_ms: lag === null ? null : Math.round(lag), max_lag_ms: Math.round(this.maxLag),
      copied: { ...this.copied }, removed: { ...this.removed }, faults: this.faults, last_tick_ms: this.lastTickMs,
      evidence: { ...this.evidence }, same_volume: this.sameVolume,
    };
  }

  // ---- internals ----

  private lag(): number | null {
    // Before the first complete copy: behind by as long as it has been trying (a first copy of a
    // large database, or a card too slow to finish one, is reported once past the bound).
    if (this.currentAsOf === null) return Date.now() - this.startedAt;
    return Math.max(0, Date.now() - this.currentAsOf);
  }

  private onMessage(m: FromReplica): void {
    switch (m.type) {
      case 'tick':
        this.onTick(m);
        return;
      case 'fault':
        this.onFault(m.fault, m.at);
        return;
      case 'flushed':
        this.flushes.get(m.id)?.(m.ok);
        this.flushes.delete(m.id);
        return;
      case 'closed':
        return;
    }
  }

  private onTick(m: Extract<FromReplica, { type: 'tick' }>): void {
    if (m.currentAsOf !== null) {
      // The lag just before this copy landed: what was committed at currentAsOf waited this long at most.
      // Measured on the worker's clock readings, not on arrival: a busy event loop here (a model
      // loading) delays the message, not the copy.
      if (this.currentAsOf !== null) this.maxLag = Math.max(this.maxLag, m.at - this.currentAsOf);
      this.currentAsOf = m.currentAsOf;
    }
    for (const k of ['events', 'outbox', 'evidence', 'reviews'] as const) {
      this.copied[k] += m.copied[k];
      this.removed[k] += m.removed[k];
    }
    this.evidence = m.evidence;
    this.lastTickMs = m.ms;
    if (m.replaced !== null) {
      this.log.warn({ moved_to: m.replaced }, 'replica: the copy held events this database never had (another database); moved it aside and started a new copy');
      this.report({ kind: 'replaced', moved_to: m.replaced });
    }
    if (this.fault) {
      const f = this.fault;
      this.fault = null;
      this.log.warn({ dir: this.settings.dir, degraded_s: (Date.now() - f.since) / 1000 }, 'replica recovered: the copy is written again');
    }
    this.checkLag(false);
  }

  private onFault(fault: ReplicaFault, at: number): void {
    this.faults += 1;
    const first = this.fault === null || this.fault.code !== fault.code;
    this.fault = { ...fault, reason: reasonOf(fault), since: this.fault?.since ?? at };
    if (first) this.log.warn({ dir: this.settings.dir, code: fault.code, err: fault.message }, 'replica degraded: the copy cannot be written; events are still accepted');
    else this.log.debug({ code: fault.code, err: fault.message }, 'replica still failing');
    this.checkLag(false);
  }

  /** Degraded (a fault, or behind its bound) is reported once when it starts and once when it ends. */
  private checkLag(fromTimer: boolean): void {
    const now = Date.now();
    const late = fromTimer && now - this.lastCheckAt > 2 * LAG_CHECK_MS;
    if (fromTimer) this.lastCheckAt = now;
    // A late timer means this thread was busy: the worker's messages are still queued behind it, so
    // the lag read now is this thread's delay, not the copy's. Judged at the next, punctual check.
    if (late) return;
    const lag = this.lag();
    if (fromTimer && lag !== null && this.currentAsOf !== null) this.maxLag = Math.max(this.maxLag, lag);
    const behind = !this.fault && lag !== null && lag > this.settings.max_lag_ms;
    if (behind && this.behindSince === null) {
      this.behindSince = Date.now();
      this.log.warn({ lag_ms: Math.round(lag), bound_ms: this.settings.max_lag_ms }, 'replica behind its lag bound (a slow volume?)');
    } else if (!behind && this.behindSince !== null) {
      this.behindSince = null;
    }
    const bad = this.fault !== null || this.behindSince !== null;
    if (bad && this.reported === 'ok') {
      this.reported = 'degraded';
      this.degradedSince = Date.now();
      const s = this.status();
      this.report({ kind: 'degraded', reason: s.reason ?? 'degraded', code: this.fault?.code ?? 'BEHIND' });
    } else if (!bad && this.reported === 'degraded') {
      this.reported = 'ok';
      this.report({ kind: 'recovered', degraded_s: Math.round((Date.now() - this.degradedSince) / 100) / 10 });
    }
  }

  private report(r: ReplicaReport): void {
    try {
      this.opts.onReport?.(r);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'replica: report listener failed');
    }
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'replica: handler failed');
    }
  }
}

function reasonOf(f: ReplicaFault): string {
  const what = /^(SQLITE_READONLY|EROFS)/.test(f.code) ? 'the replica volume is read-only'
    : /^(SQLITE_FULL|ENOSPC|EDQUOT)$/.test(f.code) ? 'the replica volume is full'
      : /^(SQLITE_IOERR|EIO)/.test(f.code) ? 'the replica volume reports I/O errors'
        : f.code === 'ENOENT' ? 'the replica directory is missing'
          : /^(SQLITE_CANTOPEN|EACCES|EPERM|SQLITE_PERM)/.test(f.code) ? 'the replica cannot be opened'
            : 'the replica cannot be written';
  return `${what} (${f.code}: ${f.message})`;
}

function sameFilesystem(a: string, b: string): boolean {
  try {
    return statSync(a).dev === statSync(b).dev;
  } catch {
    return false;
  }
}
