import { makeDirs } from '../util/make-dirs.js';
import path from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { errorMessage } from '../errors.js';
import { StoreError } from './errors.js';
import { migrate, NewerSchemaError } from './migrations.js';

export const DATABASE_FILE = 'vigil.db';
/** The WAL's bound by default: SQLite's own checkpoint point (1000 pages of 4 KiB). */
export const DEFAULT_WAL_LIMIT_BYTES = 4 * 1024 * 1024;

export interface OpenOptions {
  /** How long a writer waits for a lock held by another connection (vigilctl reading) before failing. */
  busyTimeoutMs?: number;
  /**
   * Run `PRAGMA quick_check` before use, so that a damaged file is found at start (and can be moved
   * aside) rather than by the first event that touches a bad page. The daemon sets it; vigilctl,
   * which only reads, does not pay for it.
   */
  integrityCheck?: boolean;
  /**
   * The WAL's bound, part of the disk budget: a checkpoint starts once this many bytes of frames are
   * written (wal_autocheckpoint), and the file is cut back to it after each (journal_size_limit).
   */
  walLimitBytes?: number;
  /**
   * Used by openWithRecovery only: builds a database at `target` (absent) from a replica, salvaging
   * what it can of `corrupt` (the damaged file moved aside; null when the database was missing).
   * It must leave `target` absent when it cannot; see store/replica/replica-restore.ts.
   */
  restore?: (target: string, corrupt: string | null) => void;
}

/**
 * Opens (creating if needed) `<dir>/vigil.db`, sets the pragmas and brings the schema up to date.
 * Every failure becomes a StoreError naming the file, so the journal says which file to look at.
 */
export function openDatabase(dir: string, options: OpenOptions = {}): Database {
  const file = path.join(dir, DATABASE_FILE);
  try {
    makeDirs(dir);
  } catch (err) {
    throw new StoreError(file, `cannot create the storage directory: ${errorMessage(err)}`, { cause: err });
  }
  let db: Database;
  try {
    db = new BetterSqlite3(file);
  } catch (err) {
    throw new StoreError(file, `cannot open the database (is the path writable?): ${errorMessage(err)}`, { cause: err });
  }
  try {
    configure(db, file, options);
    if (options.integrityCheck) quickCheck(db, file);
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    if (err instanceof NewerSchemaError) throw new StoreError(file, err.message, { cause: err, problem: 'newer-schema' });
    const code = String((err as { code?: unknown }).code);
    if (/^SQLITE_(READONLY|CANTOPEN|PERM)/.test(code)) {
      throw new StoreError(file, `the database is not writable (${code}); check the owner and mode of the file ` +
        'and of its directory', { cause: err, problem: 'unwritable' });
    }
    if (/^SQLITE_(NOTADB|CORRUPT)/.test(code)) {
      throw new StoreError(file, `the database file is corrupt or not an SQLite database (${code}); ` +
        'move it aside to start with an empty one', { cause: err, problem: 'corrupt' });
    }
    throw new StoreError(file, `cannot use the database: ${errorMessage(err)}`, { cause: err });
  }
}

function configure(db: Database, file: string, options: OpenOptions): void {
  // The first statement reads the header, so this is where a corrupt or foreign file shows itself.
  const mode: unknown = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') {
    // SQLite silently keeps the old mode when it cannot create the -wal file (read-only directory).
    throw new StoreError(file, `cannot switch to WAL journal mode (got ${String(mode)}); is the directory writable?`);
  }
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  // FULL, not NORMAL: in WAL mode NORMAL is safe against a crash of the process but can lose the
  // last commits on power loss, and these devices lose power. An event counts as accepted when its
  // transaction commits, so the commit must be on disk. Events arrive at a few per second at most
  // (rules have cooldowns), so one fsync per commit is affordable.
  //
  // Per data class, since SQLite sets this per connection and it can change between transactions:
  // - events and their outbox rows: FULL, as above: they are the promise to the hub.
  // - acknowledgements (outbox deletes), attempt counters and evictions: NORMAL (see
  //   EventStore.relaxed). Losing one to a power cut only means a row is sent again or evicted
  //   again, which at-least-once delivery already allows, and skipping the fsync lets the drainer
  //   keep up with a 100 000-row backlog. WAL keeps the file consistent either way, and the next
  //   FULL commit flushes the WAL frames written before it.
  // - telemetry, when it arrives, belongs in the NORMAL class for the same reason: a lost sample is
  //   replaced by the next one.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // A backlog drain writes many WAL frames; without a limit the -wal file keeps its largest size
  // for ever. The disk budget counts the WAL (disk-space.ts), and this keeps it near the bound:
  // checkpoint at the bound, cut the file back to it after.
  const walLimit = Math.max(64 * 1024, Math.floor(options.walLimitBytes ?? DEFAULT_WAL_LIMIT_BYTES));
  const pageSize = Number(db.pragma('page_size', { simple: true })) || 4096;
  db.pragma(`wal_autocheckpoint = ${Math.max(16, Math.floor(walLimit / pageSize))}`);
  db.pragma(`journal_size_limit = ${walLimit}`);
  assertWritable(db, file);
}

/**
 * SQLite opens a file it may not write read-only without saying so, and then fails at the first
 * INSERT, long after start. Taking the write lock now surfaces that at open, naming the file.
 */
function assertWritable(db: Database, file: string): void {
  try {
    db.exec('BEGIN IMMEDIATE; ROLLBACK');
  } catch (err) {
    throw new StoreError(file, `the database is not writable: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * quick_check reads every page and verifies the b-tree structure (not index contents, which the
 * full integrity_check does at several times the cost). It catches truncation and scribbled pages,
 * which is what power cuts and failing flash produce.
 */
function quickCheck(db: Database, file: string): void {
  const rows = db.prepare('PRAGMA quick_check(5)').pluck().all();
  if (rows.length === 1 && rows[0] === 'ok') return;
  throw new StoreError(file, `the database failed its integrity check: ${rows.map(String).join('; ')}`,
    { problem: 'corrupt' });
}
