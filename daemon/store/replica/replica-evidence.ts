import { createHash, type Hash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * Where the copy of an evidence file lives: the same path below `storage.replica.dir` as the file
 * has below `storage.dir` (`evidence/<stream>/…`). Null for a file outside `storage.dir`.
 */
export function replicaEvidencePath(storageDir: string, replicaDir: string, file: string): string | null {
  const rel = path.relative(storageDir, file);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return path.join(replicaDir, rel);
}

export interface EvidenceRow {
  event_id: string;
  kind: string;
  path: string;
  bytes: number;
  sha256: string;
}

export interface EvidenceCopyStats {
  /** Files copied since start, and their bytes. */
  copied: number;
  bytes: number;
  /** Files with a known sha256 not copied yet. */
  pending: number;
  /** Files whose bytes on the primary no longer match their sha256: not copied (the scrub reports them). */
  mismatched: number;
}

const CHUNK = 1024 * 1024;

/** A file being copied, carried over from tick to tick: a clip of tens of MiB never holds up the rows' copy for long. */
interface InProgress {
  key: string;
  sha256: string;
  bytes: number;
  src: number;
  dst: number;
  tmp: string;
  dest: string;
  hash: Hash;
}

/**
 * Copies evidence files into the replica once their sha256 is known, verifying the bytes against it
 * on the way: a copy is only ever of a good file. At most `budgetBytes` per call, resuming a file
 * where the last call stopped, so that one tick's evidence work is bounded whatever the file sizes
 * (the rows' lag bound holds on a slow card). Synchronous: it runs on the replica's own thread.
 * Throws when the replica volume fails (the caller reports, calls abort() and retries later).
 */
export class EvidenceCopier {
  /** `event_id/kind` → the sha256 of the copy in place. */
  private readonly done = new Map<string, string>();
  /** `event_id/kind` → the sha256 the primary's file did not match, or that was gone (not tried again for that hash). */
  private readonly bad = new Map<string, string>();
  private current: InProgress | null = null;
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  readonly stats: EvidenceCopyStats = { copied: 0, bytes: 0, pending: 0, mismatched: 0 };

  constructor(private readonly storageDir: string, private readonly replicaDir: string) {}

  /** A file is under way (continued at the next call). */
  get busy(): boolean {
    return this.current !== null;
  }

  /** Copies what is missing among `rows` (the copy's evidence_files), oldest first, up to the budget. */
  copy(rows: readonly EvidenceRow[], budgetBytes: number): void {
    let left = budgetBytes;
    try {
      while (left > 0) {
        if (!this.current) {
          const next = this.next(rows);
          if (!next) break;
          this.current = this.begin(next);
          continue;
        }
        const n = this.step(this.current, Math.min(left, CHUNK));
        left -= n;
        if (n === 0) this.finish();
      }
    } catch (err) {
      this.abort();
      throw err;
    }
    this.stats.pending = rows.filter((r) => this.wanted(r)).length;
  }

  /** Drops the file under way (the volume failed; the next tick starts it again). */
  abort(): void {
    const c = this.current;
    this.current = null;
    if (!c) return;
    for (const fd of [c.src, c.dst]) {
      try {
        closeSync(fd);
      } catch {
        // Already closed, or the volume is gone.
      }
    }
    try {
      unlinkSync(c.tmp);
    } catch {
      // Not there, or the volume is gone: a leftover .part is overwritten next time.
    }
  }

  /** Deletes the copies of files whose rows left the replica (evicted on the primary). */
  drop(gone: readonly { eventId: string; kind: string; path: string }[]): void {
    for (const g of gone) {
      const key = `${g.eventId}/${g.kind}`;
      if (this.current?.key === key) this.abort();
      this.done.delete(key);
      this.bad.delete(key);
      const dest = replicaEvidencePath(this.storageDir, this.replicaDir, g.path);
      if (dest === null) continue;
      try {
        unlinkSync(dest);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  private wanted(row: EvidenceRow): boolean {
    const key = `${row.event_id}/${row.kind}`;
    return row.sha256 !== '' && this.done.get(key) !== row.sha256 && this.bad.get(key) !== row.sha256;
  }

  /** The oldest row still to copy; a copy of the right size left by an earlier run is taken as done (the scrub re-hashes it). */
  private next(rows: readonly EvidenceRow[]): { row: EvidenceRow; dest: string } | null {
    for (const row of rows) {
      if (!this.wanted(row)) continue;
      const dest = replicaEvidencePath(this.storageDir, this.replicaDir, row.path);
      if (dest === null) {
        this.bad.set(`${row.event_id}/${row.kind}`, row.sha256);
        continue;
      }
      if (sizeOf(dest) === row.bytes) {
        this.done.set(`${row.event_id}/${row.kind}`, row.sha256);
        continue;
      }
      return { row, dest };
    }
    return null;
  }

  private begin({ row, dest }: { row: EvidenceRow; dest: string }): InProgress | null {
    const key = `${row.event_id}/${row.kind}`;
    let src: number;
    try {
      src = openSync(row.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Evicted meanwhile: its row goes at the next cycle.
      this.bad.set(key, row.sha256);
      return null;
    }
    const tmp = `${dest}.part`;
    try {
      mkdirSync(path.dirname(dest), { recursive: true });
      return { key, sha256: row.sha256, bytes: row.bytes, src, dst: openSync(tmp, 'w'), tmp, dest, hash: createHash('sha256') };
    } catch (err) {
      closeSync(src);
      throw err;
    }
  }

  private step(c: InProgress, max: number): number {
    const n = readSync(c.src, this.buf, 0, max, null);
    if (n === 0) return 0;
    c.hash.update(this.buf.subarray(0, n));
    let off = 0;
    while (off < n) off += writeSync(c.dst, this.buf, off, n - off);
    return n;
  }

  private finish(): void {
    const c = this.current!;
    fsyncSync(c.dst);
    closeSync(c.dst);
    closeSync(c.src);
    this.current = null;
    if (c.hash.digest('hex') !== c.sha256) {
      unlinkSync(c.tmp);
      this.bad.set(c.key, c.sha256);
      this.stats.mismatched += 1;
      return;
    }
    renameSync(c.tmp, c.dest);
    this.done.set(c.key, c.sha256);
    this.stats.copied += 1;
    this.stats.bytes += c.bytes;
  }
}

/** The file's size, or null where it cannot be read (absent, or the volume is gone). */
export function sizeOf(file: string): number | null {
  try {
    return statSync(file).size;
  } catch {
    return null;
  }
}
