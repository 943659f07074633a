import { existsSync, linkSync, renameSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { errorMessage } from '../errors.js';
import { StoreError } from './errors.js';
import { DATABASE_FILE, openDatabase, type OpenOptions } from './open.js';

/** A database that could not be used and was moved aside at start. */
export interface Quarantine {
  /** The path the database had. */
  file: string;
  /** Where it and its -wal/-shm files went: kept for a person (or `sqlite3 .recover`) to look at. */
  movedTo: string[];
  reason: string;
  /** ms since the epoch. */
  at: number;
}

export interface OpenedDatabase {
  db: Database;
  quarantine: Quarantine | null;
}

/**
 * Opens the daemon's database; if the file is corrupt or not a database at all, moves it aside with
 * a timestamp and starts an empty one. A device alone on a pole has nobody to fix the file, and
 * refusing to start would turn one bad sector into a restart loop that records nothing at all; the
 * old file is never deleted, only renamed, so whatever it still holds can be recovered by hand.
 *
 * A zero-length file is handled the same way and reported alike: SQLite alone would start an empty
 * database in it without a word. Only these are handled this way. An unwritable path or a schema from a newer vigild is not the
 * file's fault, and moving it would lose a good database: those still fail the start.
 */
export function openWithRecovery(dir: string, options: OpenOptions & { now?: () => number } = {}): OpenedDatabase {
  const openOptions: OpenOptions = { ...options, integrityCheck: true };
  const file = path.join(dir, DATABASE_FILE);
  // A missing database with a replica configured is rebuilt from it (store/replica/replica-restore.ts).
  if (!existsSync(file)) restoreInto(file, null, options);
  const kept = keepSidecars(file);
  const empty = emptyDatabase(file, kept);
  if (empty !== null) {
    // SQLite would take a zero-length file for a new database and say nothing: the events it held
    // (and any WAL beside it, which SQLite discards without its main file) would vanish unreported.
    const at = (options.now ?? Date.now)();
    const movedTo = moveAside(file, at, kept);
    restoreInto(file, movedTo.find((f) => f.endsWith('.db')) ?? null, options);
    const db = openDatabase(dir, openOptions);
    return { db, quarantine: { file, movedTo, reason: empty, at } };
  }
  try {
    const db = openDatabase(dir, openOptions);
    dropKept(kept);
    return { db, quarantine: null };
  } catch (err) {
    if (!(err instanceof StoreError) || err.problem !== 'corrupt') {
      dropKept(kept);
      throw err;
    }
    const at = (options.now ?? Date.now)();
    const movedTo = moveAside(file, at, kept);
    restoreInto(file, movedTo.find((f) => f.endsWith('.db')) ?? null, options);
    const db = openDatabase(dir, openOptions);
    return { db, quarantine: { file: err.file, movedTo, reason: errorMessage(err), at } };
  }
}

/**
 * Asks the replica (OpenOptions.restore) to put a database at `file` before the fresh open. A
 * restore that fails leaves `file` absent, and the open starts an empty database as without one.
 */
function restoreInto(file: string, corrupt: string | null, options: OpenOptions): void {
  if (!options.restore) return;
  try {
    options.restore(file, corrupt);
  } catch {
    // The hook reports its own failure; an empty database is still better than none.
  }
}

/**
 * Why an existing `vigil.db` of zero bytes is not a database: vigild's own files are never empty
 * (switching to WAL writes the first page at creation), so only a truncation makes one: a
 * filesystem repair after a power cut, a failing card, a person's `> vigil.db`. Null when the file
 * is absent or not empty.
 */
function emptyDatabase(file: string, kept: Map<Sidecar, string>): string | null {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return null;
  }
  if (size > 0) return null;
  const wal = kept.get('-wal');
  const walBytes = wal !== undefined ? statSync(wal).size : 0;
  return 'the database file is empty (0 bytes): it was truncated (a filesystem repair, a failing disk or a person); ' +
    `every event it held is gone${walBytes > 0 ? `, and its ${walBytes}-byte WAL was kept beside it` : ''}`;
}

const SIDECARS = ['-wal', '-shm', '-journal'] as const;
type Sidecar = (typeof SIDECARS)[number];

/**
 * SQLite deletes a -wal it finds unusable when the failed connection closes, which is exactly the
 * WAL of a damaged database that a person would want. A hard link taken before the open keeps its
 * contents under a second name at no cost; it is dropped again when the open succeeds.
 */
function keepSidecars(file: string): Map<Sidecar, string> {
  const kept = new Map<Sidecar, string>();
  for (const suffix of SIDECARS) {
    const from = `${file}${suffix}`;
    const link = `${from}.kept`;
    try {
      if (existsSync(link)) unlinkSync(link); // left by a start that died here; the original is still in place
      if (!existsSync(from)) continue;
      linkSync(from, link);
      kept.set(suffix, link);
    } catch {
      // Best effort: a filesystem without hard links still gets the main file moved aside.
    }
  }
  return kept;
}

function dropKept(kept: Map<Sidecar, string>): void {
  for (const link of kept.values()) {
    try {
      unlinkSync(link);
    } catch {
      // Only a second name for a file SQLite owns; a leftover is removed at the next start.
    }
  }
}

/**
 * `vigil.db` becomes `vigil.corrupt-<time>.db` (an empty one too, as a record of what happened), with its -wal and -shm renamed alike: SQLite pairs a
 * database with its WAL by name, so the set still opens together for inspection, and none of it can
 * be picked up by the fresh database.
 */
function moveAside(file: string, at: number, kept: Map<Sidecar, string>): string[] {
  const stamp = new Date(at).toISOString().replace(/[:.]/g, '-');
  const base = path.join(path.dirname(file), `${path.basename(file, '.db')}.corrupt-${stamp}.db`);
  const moved: string[] = [];
  const move = (from: string, to: string): void => {
    try {
      renameSync(from, to);
    } catch (err) {
      throw new StoreError(file, `the database is corrupt and cannot be moved aside to ${to}: ${errorMessage(err)}`,
        { cause: err, problem: 'unwritable' });
    }
    moved.push(to);
  };
  if (existsSync(file)) move(file, base);
  for (const suffix of SIDECARS) {
    const from = `${file}${suffix}`;
    const link = kept.get(suffix);
    if (link !== undefined) {
      const sameFile = existsSync(from) && statSync(from).ino === statSync(link).ino;
      move(link, `${base}${suffix}`);
      // Only a second name of what was just moved.
      if (sameFile) unlinkSync(from);
    }
    // Whatever SQLite made during the failed open must not be picked up by the fresh database.
    if (existsSync(from)) move(from, `${base}${suffix}.after-open`);
  }
  return moved;
}
