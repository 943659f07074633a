import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { errorMessage } from '../errors.js';
import { StoreError } from './errors.js';
import { migrate, NewerSchemaError } from './migrations.js';

export const DATABASE_FILE = 'vigil.db';

export interface OpenOptions {
  /** How long a writer waits for a lock held by another connection (vigilctl reading) before failing. */
  busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed) `<dir>/vigil.db`, sets the pragmas and brings the schema up to date.
 * Every failure becomes a StoreError naming the file, so the journal says which file to look at.
 */
export function openDatabase(dir: string, options: OpenOptions = {}): Database {
  const file = path.join(dir, DATABASE_FILE);
  try {
    mkdirSync(dir, { recursive: true });
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
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    if (err instanceof NewerSchemaError) throw new StoreError(file, err.message, { cause: err });
    const code = String((err as { code?: unknown }).code);
    if (/^SQLITE_(READONLY|CANTOPEN|PERM)/.test(code)) {
      throw new StoreError(file, `the database is not writable (${code}); check the owner and mode of the file ` +
        'and of its directory', { cause: err });
    }
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new StoreError(file, `the database file is corrupt or not an SQLite database (${code}); ` +
        'move it aside to start with an empty one', { cause: err });
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
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
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
