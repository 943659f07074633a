import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { errorMessage } from '../../errors.js';
import { replicaEvidencePath, sizeOf } from './replica-evidence.js';
import { REPLICA_FILE } from './replica-sync.js';

export interface SalvageCounts {
  /** Rows read from the damaged file that the copy lacked, added. */
  events: number;
  outbox: number;
  evidence: number;
  reviews: number;
  /** Events the copy had as undelivered that the damaged file knew were delivered. */
  uplinked: number;
  /** Ranges of rowids that could not be read (a bad page), all tables together. */
  unreadable: number;
}

/** What a restore did: logged, and recorded as an audit event once the store is open. */
export interface RestoreReport {
  /** The replica file the database was rebuilt from. */
  from: string;
  /** copy: the file as it was (rowids kept); vacuum: rebuilt by VACUUM INTO (the replica volume was read-only). */
  method: 'copy' | 'vacuum';
  /** What the rebuilt database holds. */
  events: number;
  undelivered: number;
  outbox: number;
  evidence: number;
  /** Created time of the newest event in the copy (ms since the epoch), null when it had none. */
  newest: number | null;
  /** Rows taken from the damaged file; null when there was none (the primary was missing). */
  salvaged: SalvageCounts | null;
  /** Why nothing could be read from the damaged file (its header is gone, say). */
  salvage_error: string | null;
  /** Evidence files missing (or of the wrong size) under storage.dir put back from the replica's copies, verified by sha256. */
  evidence_restored: number;
  /** Evidence files whose good copy could not be put back (the primary volume refused the write), and the first error. */
  evidence_failed: number;
  evidence_error: string | null;
}

const SIDECARS = ['-wal', '-shm', '-journal'] as const;

/**
 * Rebuilds `target` (the primary's path, which must not exist: recovery.ts moved a damaged file
 * aside) from the replica in `replicaDir`, then adds what can still be read from the damaged file
 * `corrupt` (rows newer than the copy's lag). Null when there is no replica to restore from.
 * Throws when the replica exists but cannot be used: the caller starts an empty database, as before.
 *
 * Nothing is deleted: the damaged file stays where recovery.ts put it, the replica is only read
 * (a checkpoint of its own WAL aside).
 */
export function restoreFromReplica(opts: { replicaDir: string; target: string; corrupt: string | null; now?: () => number }): RestoreReport | null {
  const from = path.join(opts.replicaDir, REPLICA_FILE);
  if (!existsSync(from)) return null;
  const tmp = `${opts.target}.restoring`;
  removeIfThere(tmp);
  setAsideSidecars(opts.target, (opts.now ?? Date.now)());
  const method = copyReplica(from, tmp);
  let report: RestoreReport;
  const db = new BetterSqlite3(tmp, { fileMustExist: true });
  try {
    db.pragma('journal_mode = WAL');
    let salvaged: SalvageCounts | null = null;
    let salvageError: string | null = null;
    if (opts.corrupt !== null && existsSync(opts.corrupt)) {
      try {
        salvaged = salvageInto(opts.corrupt, db);
      } catch (err) {
        salvageError = errorMessage(err);
      }
    }
    const files = restoreEvidence(db, path.dirname(opts.target), opts.replicaDir);
    const count = (sql: string): number => Number(db.prepare(sql).pluck().get() ?? 0);
    report = {
      from, method,
      events: count('SELECT count(*) FROM events'),
      undelivered: count('SELECT count(*) FROM events WHERE uplinked_at IS NULL'),
      outbox: count('SELECT count(*) FROM outbox'),
      evidence: count('SELECT count(*) FROM evidence_files'),
      newest: (db.prepare('SELECT max(created_at) FROM events').pluck().get() as number | null) ?? null,
      salvaged, salvage_error: salvageError, evidence_restored: files.restored, evidence_failed: files.failed, evidence_error: files.error,
    };
    // The rebuilt file must stand alone: its WAL folded in before it takes the primary's name.
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  for (const suffix of SIDECARS) removeIfThere(`${tmp}${suffix}`);
  renameSync(tmp, opts.target);
  return report;
}

/**
 * The replica's own WAL is folded into its file, which is then copied page for page (rowids kept,
 * so the replica carries on without a full copy). A replica on a volume gone read-only cannot be
 * checkpointed: it is read through SQLite instead (VACUUM INTO), which may renumber rowids; the
 * replica then copies everything once more.
 */
function copyReplica(from: string, to: string): 'copy' | 'vacuum' {
  try {
    const r = new BetterSqlite3(from, { fileMustExist: true });
    try {
      quickCheck(r, from);
      const res = r.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (res[0]?.busy !== 0) throw new Error('the replica is in use (checkpoint busy)');
    } finally {
      r.close();
    }
    copyFileSync(from, to);
    return 'copy';
  } catch (err) {
    if (err instanceof CorruptReplica) throw err;
    removeIfThere(to);
    const r = new BetterSqlite3(from, { readonly: true, fileMustExist: true });
    try {
      quickCheck(r, from);
      r.prepare('VACUUM INTO ?').run(to);
    } finally {
      r.close();
    }
    return 'vacuum';
  }
}

class CorruptReplica extends Error {}

function quickCheck(db: Database, file: string): void {
  const rows = db.prepare('PRAGMA quick_check(3)').pluck().all();
  if (rows.length !== 1 || rows[0] !== 'ok') throw new CorruptReplica(`the replica ${file} failed its integrity check: ${rows.map(String).join('; ')}`);
}

/**
 * Reads what it can of each copied table of the damaged file, rowid range by rowid range (a bad
 * page costs the rows on it, not the table), and adds the rows the copy lacks: events and evidence
 * by key, outbox rows by seq (an outbox row the damaged file still had was not acknowledged). An
 * event the damaged file knew as delivered is marked so in the copy.
 */
export function salvageInto(corrupt: string, into: Database): SalvageCounts {
  const counts: SalvageCounts = { events: 0, outbox: 0, evidence: 0, reviews: 0, uplinked: 0, unreadable: 0 };
  const src = new BetterSqlite3(corrupt, { readonly: true, fileMustExist: true });
  try {
    const tables = new Set(src.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    const insert = (table: string, key: keyof SalvageCounts): void => {
      if (!tables.has(table)) return;
      const theirs = new Set(src.prepare(`SELECT name FROM pragma_table_info('${table}')`).pluck().all() as string[]);
      const cols = (into.prepare(`SELECT name FROM pragma_table_info('${table}')`).pluck().all() as string[]).filter((c) => theirs.has(c));
      const add = into.prepare(`INSERT OR IGNORE INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`);
      const uplinked = table === 'events'
        ? into.prepare('UPDATE events SET uplinked_at = @uplinked_at WHERE id = @id AND uplinked_at IS NULL AND @uplinked_at IS NOT NULL') : null;
      const read = src.prepare(`SELECT rowid AS _rid, ${cols.join(', ')} FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT 256`);
      into.transaction(() => {
        for (const row of readable(read, () => { counts.unreadable += 1; })) {
          const values = { ...row };
          delete values['_rid'];
          if (add.run(values).changes > 0) counts[key] += 1;
          else if (uplinked && uplinked.run(values).changes > 0) counts.uplinked += 1;
        }
      })();
    };
    insert('events', 'events');
    insert('outbox', 'outbox');
    insert('evidence_files', 'evidence');
    insert('reviews', 'reviews');
  } finally {
    src.close();
  }
  return counts;
}

/** Rows in rowid order; a range that fails to read is stepped over with a growing stride, up to 64 failures in a row. */
function* readable(read: BetterSqlite3.Statement<[number]>, skipped: () => void): Generator<Record<string, unknown>> {
  let after = -1;
  let stride = 1;
  let failures = 0;
  for (;;) {
    let rows: Record<string, unknown>[];
    try {
      rows = read.all(after) as Record<string, unknown>[];
    } catch {
      skipped();
      if (++failures > 64) return;
      after += stride;
      stride *= 2;
      continue;
    }
    failures = 0;
    stride = 1;
    if (rows.length === 0) return;
    yield* rows;
    after = Number(rows[rows.length - 1]!['_rid']);
  }
}

/** A WAL or journal left at the primary's path without its database would be applied to the restored file: moved aside, never deleted. */
function setAsideSidecars(target: string, at: number): void {
  const stamp = new Date(at).toISOString().replace(/[:.]/g, '-');
  for (const suffix of SIDECARS) {
    const f = `${target}${suffix}`;
    if (existsSync(f)) renameSync(f, `${f}.orphan-${stamp}`);
  }
}

function removeIfThere(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * A failed card takes the evidence files with the database: those missing (or of another size)
 * are put back from the replica's copies before the uplink starts, or the send path would refuse
 * them as missing. Each copy is verified against its sha256; a copy that does not match is left.
 */
function restoreEvidence(db: Database, storageDir: string, replicaDir: string): { restored: number; failed: number; error: string | null } {
  const rows = db.prepare("SELECT path, bytes, sha256 FROM evidence_files WHERE sha256 != ''").all() as { path: string; bytes: number; sha256: string }[];
  let restored = 0;
  let failed = 0;
  let error: string | null = null;
  for (const row of rows) {
    if (sizeOf(row.path) === row.bytes) continue;
    const copy = replicaEvidencePath(storageDir, replicaDir, row.path);
    if (copy === null || sizeOf(copy) !== row.bytes) continue;
    const tmp = `${row.path}.restoring`;
    try {
      mkdirSync(path.dirname(row.path), { recursive: true });
      copyFileSync(copy, tmp);
      if (createHash('sha256').update(readFileSync(tmp)).digest('hex') !== row.sha256) {
        unlinkSync(tmp);
        continue;
      }
      renameSync(tmp, row.path);
      restored += 1;
    } catch (err) {
      failed += 1;
      error ??= `${row.path}: ${errorMessage(err)}`;
      removeIfThere(tmp);
    }
  }
  return { restored, failed, error };
}

