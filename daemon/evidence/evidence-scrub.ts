import { createHash } from 'node:crypto';
import { copyFile, open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database, Statement } from 'better-sqlite3';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { replicaEvidencePath } from '../store/replica/replica-evidence.js';
import type { ScrubStats } from '../store/replica/replica-status.js';

export type { ScrubStats } from '../store/replica/replica-status.js';
import type { EvidenceRefusedNotice } from '../store/types.js';
import type { EvidenceKind } from './evidence-files.js';

export interface ScrubSettings {
  /** Re-hash rate, bytes per second: the scrub must not compete with clips being written. */
  bytesPerS: number;
  /** Pause between the end of one pass and the start of the next (and before the first), ms. */
  everyMs: number;
}

/** A file whose bytes are not what the database recorded: what the log, the audit record and the counters say. */
export interface ScrubFinding {
  eventId: string;
  fileKind: EvidenceKind;
  path: string;
  problem: 'sha256_mismatch' | 'missing' | 'unreadable';
  expected: string;
  /** Null when the file could not be read. */
  actual: string | null;
  /** Put back from the replica's copy (whose sha256 matched). */
  repaired: boolean;
  /** The replica copy used, or why there was none. */
  from: string | null;
}

/** What the scrub needs of the store: its connection (read only here) and the refusal of a file that cannot be repaired. */
export interface ScrubStore {
  readonly db: Database;
  refuseEvidence(notice: Omit<EvidenceRefusedNotice, 'kind'>): boolean;
}

export interface EvidenceScrubOptions {
  store: () => ScrubStore | null;
  storageDir: string;
  /** `storage.replica.dir`; null: nothing to repair from. */
  replicaDir: string | null;
  settings: ScrubSettings;
  log: Logger;
  onFinding?: (finding: ScrubFinding) => void;
}

interface Row {
  rid: number;
  event_id: string;
  kind: EvidenceKind;
  path: string;
  bytes: number;
  sha256: string;
}

const CHUNK = 256 * 1024;
const BATCH = 32;

/**
 * Re-hashes every evidence file against the sha256 the database recorded, slowly (`bytesPerS`,
 * async reads on the thread pool, a hash update per 256 KiB on the event loop: far from the frame
 * path), and repairs a bad file from the replica's copy when that copy's hash is right. A file
 * that cannot be repaired is refused (store.refuseEvidence: not sent, and the hub is told), as
 * the evidence service does when it finds one at send time.
 */
export class EvidenceScrub {
  readonly stats: ScrubStats = { running: false, passes: 0, files: 0, bytes: 0, mismatches: 0, missing: 0, repaired: 0, unrepaired: 0, lastPassAt: null };
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private stmts: { db: Database; next: Statement<[number, number], Row>; still: Statement<[string, string], { path: string; sha256: string }> } | null = null;

  constructor(private readonly opts: EvidenceScrubOptions) {}

  start(): void {
    if (this.loop || this.opts.settings.bytesPerS <= 0) return;
    this.loop = this.run().catch((err: unknown) => {
      if (!this.abort.signal.aborted) this.opts.log.error({ err: errorMessage(err) }, 'evidence scrub stopped');
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** One pass over every hashed file, oldest row first. Public for tests; `start` runs it every `everyMs`. */
  async pass(): Promise<ScrubFinding[]> {
    const found: ScrubFinding[] = [];
    this.stats.running = true;
    try {
      let after = 0;
      for (;;) {
        const rows = this.rows(after);
        if (rows.length === 0) break;
        for (const row of rows) {
          after = row.rid;
          const finding = await this.check(row);
          if (finding) found.push(finding);
        }
      }
      this.stats.passes += 1;
      this.stats.lastPassAt = Date.now();
      this.opts.log.info({ files: this.stats.files, found: found.length }, 'evidence scrub pass done');
      return found;
    } finally {
      this.stats.running = false;
    }
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    for (;;) {
      await sleep(this.opts.settings.everyMs, undefined, { signal, ref: false });
      await this.pass();
    }
  }

  private rows(after: number): Row[] {
    const store = this.opts.store();
    if (!store?.db.open) return [];
    if (this.stmts?.db !== store.db) {
      this.stmts = {
        db: store.db,
        next: store.db.prepare(`SELECT rowid AS rid, event_id, kind, path, bytes, sha256 FROM evidence_files
          WHERE rowid > ? AND sha256 != '' AND refused IS NULL ORDER BY rowid LIMIT ?`),
        still: store.db.prepare('SELECT path, sha256 FROM evidence_files WHERE event_id = ? AND kind = ?'),
      };
    }
    return this.stmts.next.all(after, BATCH);
  }

  private async check(row: Row): Promise<ScrubFinding | null> {
    const actual = await this.hash(row.path);
    if (actual !== null) {
      this.stats.files += 1;
      this.stats.bytes += row.bytes;
    }
    if (actual === row.sha256) return null;
    // Evicted or replaced while it was read: not a finding.
    const now = this.stmts?.still.get(row.event_id, row.kind);
    if (!now || now.sha256 !== row.sha256 || now.path !== row.path) return null;
    const problem = actual === null ? (await exists(row.path) ? 'unreadable' : 'missing') : 'sha256_mismatch';
    if (problem === 'missing') this.stats.missing += 1;
    else this.stats.mismatches += 1;
    const repair = await this.repair(row);
    const finding: ScrubFinding = { eventId: row.event_id, fileKind: row.kind, path: row.path, problem, expected: row.sha256, actual,
      repaired: repair.ok, from: repair.from };
    if (repair.ok) {
      this.stats.repaired += 1;
      this.opts.log.warn({ event: row.event_id, kind: row.kind, file: row.path, problem, actual, expected: row.sha256, from: repair.from },
        'evidence scrub: a file did not match its sha256; repaired from the replica');
    } else {
      this.stats.unrepaired += 1;
      this.opts.log.error({ event: row.event_id, kind: row.kind, file: row.path, problem, actual, expected: row.sha256, why: repair.from },
        'evidence scrub: a file does not match its sha256 and has no good copy; refused');
      try {
        this.opts.store()?.refuseEvidence({ event_id: row.event_id, file_kind: row.kind, name: path.basename(row.path), reason: problem,
          expected_sha256: row.sha256, actual_sha256: actual, expected_bytes: row.bytes, actual_bytes: await sizeOf(row.path) });
      } catch (err) {
        this.opts.log.warn({ err: errorMessage(err), event: row.event_id }, 'evidence scrub: cannot record the refusal');
      }
    }
    try {
      this.opts.onFinding?.(finding);
    } catch (err) {
      this.opts.log.warn({ err: errorMessage(err) }, 'evidence scrub: finding listener failed');
    }
    return finding;
  }

  /** The replica's copy, if its hash is right, copied over the bad file (through a temporary name). */
  private async repair(row: Row): Promise<{ ok: boolean; from: string | null }> {
    if (this.opts.replicaDir === null) return { ok: false, from: 'no replica configured' };
    const copy = replicaEvidencePath(this.opts.storageDir, this.opts.replicaDir, row.path);
    if (copy === null) return { ok: false, from: 'the file is outside storage.dir' };
    const copyHash = await this.hash(copy);
    if (copyHash !== row.sha256) return { ok: false, from: copyHash === null ? `no copy at ${copy}` : `the copy at ${copy} does not match either` };
    const tmp = `${row.path}.repair`;
    try {
      await copyFile(copy, tmp);
      if (await this.hash(tmp) !== row.sha256) throw new Error('the repaired file did not read back with its sha256');
      await rename(tmp, row.path);
      return { ok: true, from: copy };
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      return { ok: false, from: `repair from ${copy} failed: ${errorMessage(err)}` };
    }
  }

  /** sha256 of a file at no more than `bytesPerS`; null when it cannot be read. Aborted by stop(). */
  private async hash(file: string): Promise<string | null> {
    let handle;
    try {
      handle = await open(file, 'r');
    } catch {
      return null;
    }
    try {
      const h = createHash('sha256');
      const buf = Buffer.allocUnsafe(CHUNK);
      const started = performance.now();
      let done = 0;
      for (;;) {
        this.abort.signal.throwIfAborted();
        const { bytesRead } = await handle.read(buf, 0, CHUNK, null);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
        done += bytesRead;
        const due = (done / this.opts.settings.bytesPerS) * 1000 - (performance.now() - started);
        // Referenced: a pass under way is work in progress (stop() aborts it); only the wait between passes is not.
        if (due > 1) await sleep(due, undefined, { signal: this.abort.signal });
      }
      return h.digest('hex');
    } catch (err) {
      if (this.abort.signal.aborted) throw err;
      return null;
    } finally {
      await handle.close();
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function sizeOf(file: string): Promise<number | null> {
  try {
    return (await stat(file)).size;
  } catch {
    return null;
  }
}
