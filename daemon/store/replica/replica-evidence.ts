import { createHash } from 'node:crypto';
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

/**
 * Copies evidence files into the replica once their sha256 is known, verifying the bytes against it
 * on the way: a copy is only ever of a good file. At most `budgetBytes` per call, so that a clip of
 * tens of MiB does not hold up the next copy of the database rows. Synchronous: it runs on the
 * replica's own thread. Throws when the replica volume fails (the caller reports and retries).
 */
export class EvidenceCopier {
  /** `event_id/kind` → the sha256 of the copy in place. */
  private readonly done = new Map<string, string>();
  /** `event_id/kind` → the sha256 the primary's file did not match (not tried again for that hash). */
  private readonly bad = new Map<string, string>();
  readonly stats: EvidenceCopyStats = { copied: 0, bytes: 0, pending: 0, mismatched: 0 };

  constructor(private readonly storageDir: string, private readonly replicaDir: string) {}

  /** Copies what is missing among `rows` (the copy's evidence_files), oldest first, up to the budget. */
  copy(rows: readonly EvidenceRow[], budgetBytes: number): void {
    let spent = 0;
    let pending = 0;
    for (const row of rows) {
      const key = `${row.event_id}/${row.kind}`;
      if (row.sha256 === '' || this.done.get(key) === row.sha256 || this.bad.get(key) === row.sha256) continue;
      const dest = replicaEvidencePath(this.storageDir, this.replicaDir, row.path);
      if (dest === null) continue;
      // After a restart: a copy of the right size is taken as done; the scrub re-hashes it.
      if (sizeOf(dest) === row.bytes) {
        this.done.set(key, row.sha256);
        continue;
      }
      if (spent >= budgetBytes) {
        pending += 1;
        continue;
      }
      const outcome = copyVerified(row.path, dest, row.sha256);
      if (outcome === 'copied') {
        this.done.set(key, row.sha256);
        this.stats.copied += 1;
        this.stats.bytes += row.bytes;
        spent += row.bytes;
      } else if (outcome === 'mismatch') {
        this.bad.set(key, row.sha256);
        this.stats.mismatched += 1;
      }
      // 'gone': evicted meanwhile; its row goes at the next cycle.
    }
    this.stats.pending = pending;
  }

  /** Deletes the copies of files whose rows left the replica (evicted on the primary). */
  drop(gone: readonly { eventId: string; kind: string; path: string }[]): void {
    for (const g of gone) {
      const key = `${g.eventId}/${g.kind}`;
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
}

function sizeOf(file: string): number | null {
  try {
    return statSync(file).size;
  } catch {
    return null;
  }
}

/** Copies `from` to `to` through a temporary name, hashing as it reads; renamed into place only when the hash matches. */
export function copyVerified(from: string, to: string, sha256: string): 'copied' | 'mismatch' | 'gone' {
  let src: number;
  try {
    src = openSync(from, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  const tmp = `${to}.part`;
  let dst: number | null = null;
  try {
    mkdirSync(path.dirname(to), { recursive: true });
    dst = openSync(tmp, 'w');
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(src, buf, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      let off = 0;
      while (off < n) off += writeSync(dst, buf, off, n - off);
    }
    fsyncSync(dst);
    closeSync(dst);
    dst = null;
    if (hash.digest('hex') !== sha256) {
      unlinkSync(tmp);
      return 'mismatch';
    }
    renameSync(tmp, to);
    return 'copied';
  } catch (err) {
    if (dst !== null) closeSync(dst);
    try {
      unlinkSync(tmp);
    } catch {
      // Not made, or the volume is gone: the error below says why.
    }
    throw err;
  } finally {
    closeSync(src);
  }
}
