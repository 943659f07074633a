import { closeSync, openSync, readdirSync, statfsSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { DATABASE_FILE } from './open.js';

const MiB = 1024 * 1024;

/**
 * The free space kept on the filesystem of `storage.dir` when `storage.reserve_mb` is not set:
 * 2 % of the filesystem, at least 16 MiB and at most 512 MiB, and never more than a quarter of it
 * (a small test filesystem). 2 % of a 32 GB eMMC is 640 MiB, capped to 512: enough for minutes of
 * events, snapshots and WAL growth between two checks, and for SQLite to delete rows (a delete
 * writes WAL frames too) without ever meeting a full disk.
 */
export function defaultReserveBytes(filesystemBytes: number): number {
  const rule = Math.min(512 * MiB, Math.max(16 * MiB, filesystemBytes * 0.02));
  return Math.floor(Math.min(rule, filesystemBytes / 4));
}

export interface FilesystemSpace {
  /** Bytes an unprivileged writer may still use (f_bavail), what SQLite meets before ENOSPC. */
  free: number;
  total: number;
}

/** The reserve: the configured bytes, else the default for the filesystem's size (16 MiB where statfs fails). */
export function reserveOf(configured: number | null, fs: FilesystemSpace | null): number {
  if (configured !== null) return configured;
  return fs ? defaultReserveBytes(fs.total) : 16 * MiB;
}

export function filesystemSpace(dir: string): FilesystemSpace | null {
  try {
    const s = statfsSync(dir);
    return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
  } catch {
    return null;
  }
}

/** Sizes of the files Vigil writes under `storage.dir` that the database does not account for. */
export interface FilesOnDisk {
  /** The -wal and -shm files of the database. */
  walBytes: number;
  /** The model store (`models/`) and the TensorRT engine cache (`tensorrt/`). */
  modelBytes: number;
  /** Everything else (nonce cache, device keys, learning state, the ballast), evidence and the database excluded. */
  otherBytes: number;
  /** The ballast file's size (in `otherBytes` too). */
  ballastBytes: number;
}

export const BALLAST_FILE = 'vigil.ballast';
const MODEL_DIRS = new Set(['models', 'tensorrt']);
/** Evidence files are counted by the snapshots table (cheap) instead of a walk over thousands of files. */
const COUNTED_ELSEWHERE = new Set(['evidence', DATABASE_FILE]);

function fileBytes(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function treeBytes(p: string): number {
  let st;
  try {
    st = statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.size;
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(p);
  } catch {
    return 0;
  }
  for (const name of names) total += treeBytes(path.join(p, name));
  return total;
}

/**
 * Measures and keeps the on-disk parts of the budget that SQLite does not count: the WAL, the model
 * store, the rest of `storage.dir`, and the ballast (see `releaseBallast`). The walk of the model
 * and other directories is cached for `walkEveryMs`: model packages change a few times a year, and
 * a walk costs a stat per file.
 */
export class DiskSpace {
  private walked: { at: number; modelBytes: number; otherBytes: number } | null = null;

  constructor(readonly dir: string, private readonly opts: {
    /** Fixed reserve; null: `defaultReserveBytes` of the filesystem. */
    reserveBytes: number | null;
    /** Bytes of ballast to hold; 0: none. */
    ballastBytes: number;
    walkEveryMs?: number;
    now?: () => number;
    log?: Logger;
  }) {}

  get ballastTarget(): number {
    return this.opts.ballastBytes;
  }

  filesystem(): FilesystemSpace | null {
    return filesystemSpace(this.dir);
  }

  reserveBytes(fs: FilesystemSpace | null = this.filesystem()): number {
    return reserveOf(this.opts.reserveBytes, fs);
  }

  files(fresh = false): FilesOnDisk {
    const db = path.join(this.dir, DATABASE_FILE);
    const walBytes = fileBytes(`${db}-wal`) + fileBytes(`${db}-shm`);
    const now = (this.opts.now ?? Date.now)();
    if (fresh || !this.walked || now - this.walked.at >= (this.opts.walkEveryMs ?? 60_000)) {
      let modelBytes = 0;
      let otherBytes = 0;
      let names: string[] = [];
      try {
        names = readdirSync(this.dir);
      } catch {
        // No directory yet: nothing written.
      }
      for (const name of names) {
        if (COUNTED_ELSEWHERE.has(name) || name.startsWith(`${DATABASE_FILE}-`)) continue;
        const bytes = treeBytes(path.join(this.dir, name));
        if (MODEL_DIRS.has(name)) modelBytes += bytes;
        else otherBytes += bytes;
      }
      this.walked = { at: now, modelBytes, otherBytes };
    }
    return { walBytes, modelBytes: this.walked.modelBytes, otherBytes: this.walked.otherBytes, ballastBytes: this.ballastBytes() };
  }

  ballastBytes(): number {
    return fileBytes(path.join(this.dir, BALLAST_FILE));
  }

  /**
   * The last resort when the filesystem is full: a file of `ballastBytes` held while there is room,
   * deleted when SQLite meets a full disk, so that the checkpoint and the deletes that make room
   * (both write before they free) have somewhere to write. Whatever filled the disk, this much
   * comes back. Returns the bytes released.
   */
  releaseBallast(): number {
    const file = path.join(this.dir, BALLAST_FILE);
    const bytes = fileBytes(file);
    if (bytes === 0) return 0;
    try {
      unlinkSync(file);
      this.walked = null;
      return bytes;
    } catch (err) {
      // The last resort failed: say so, the caller goes on with what eviction alone can free.
      this.opts.log?.warn({ file, err: errorMessage(err) }, 'cannot release the ballast file');
      return 0;
    }
  }

  /**
   * Writes the ballast back (zeros, written rather than a sparse file, so the blocks are really
   * taken) once the filesystem has it and the reserve to spare. Errors are returned, not thrown:
   * a missing ballast weakens the last resort but stops nothing.
   */
  restoreBallast(fs: FilesystemSpace | null): string | null {
    const want = this.opts.ballastBytes;
    if (want <= 0 || !fs) return null;
    const have = this.ballastBytes();
    if (have >= want) return null;
    if (fs.free - (want - have) < this.reserveBytes(fs)) return null;
    const file = path.join(this.dir, BALLAST_FILE);
    let fd: number | null = null;
    try {
      fd = openSync(file, 'w');
      const chunk = Buffer.alloc(Math.min(want, MiB));
      for (let written = 0; written < want;) written += writeSync(fd, chunk, 0, Math.min(chunk.length, want - written));
      this.walked = null;
      return null;
    } catch (err) {
      if (fd !== null) closeSync(fd);
      fd = null;
      try {
        unlinkSync(file);
      } catch {
        // Nothing was there to remove.
      }
      return errorMessage(err);
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }
}
