import { createHash } from 'node:crypto';
import { open, rename, statfs, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { AccessUnit } from '../video/access-unit.js';
import { ClipMuxer, type MuxResult } from './clip-muxer.js';

/** A clip on disk under its final name, with what the store records of it. */
export interface WrittenClip extends MuxResult {
  path: string;
  bytes: number;
  sha256: string;
  /** Set when the disk took only the first part of the units (`disk full`). */
  cutTo?: number;
}

/** Errors that mean "no room", after which a shorter clip may still fit. */
const NO_ROOM = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

export const isNoRoom = (err: unknown): boolean => NO_ROOM.has((err as NodeJS.ErrnoException | null)?.code ?? '');

/** Index and box overhead of an MP4 per sample and per file, generously (stts/stsz/stco/stss entries). */
const BYTES_PER_SAMPLE = 32;
const BYTES_PER_FILE = 64 * 1024;

/**
 * Muxes `units` (decode order, a keyframe first) to `<dir>/<name>.tmp`, flushes it, renames it to
 * `<dir>/<name>` and hashes the bytes on their way out (mediabunny's fast start writes in order).
 * Nothing is left under either name when it fails.
 *
 * A full disk gets a second try with as many units as the free space takes, cut after the last one
 * that fits (any prefix of a GOP-aligned clip without B-frames decodes); `cutTo` says where.
 */
export async function writeClip(dir: string, name: string, units: readonly AccessUnit[]): Promise<WrittenClip> {
  try {
    return await writeOnce(dir, name, units);
  } catch (err) {
    if (!isNoRoom(err)) throw err;
    const fits = await unitsThatFit(dir, units);
    if (fits === 0) throw err;
    return { ...await writeOnce(dir, name, units.slice(0, fits)), cutTo: fits };
  }
}

async function unitsThatFit(dir: string, units: readonly AccessUnit[]): Promise<number> {
  const fs = await statfs(dir);
  let room = fs.bavail * fs.bsize - BYTES_PER_FILE;
  let n = 0;
  for (const u of units) {
    room -= u.data.length + BYTES_PER_SAMPLE;
    if (room < 0) break;
    n++;
  }
  return n;
}

async function writeOnce(dir: string, name: string, units: readonly AccessUnit[]): Promise<WrittenClip> {
  const first = units[0];
  if (first === undefined) throw new Error('an empty clip cannot be written');
  const final = path.join(dir, name);
  const tmp = `${final}.tmp`;
  const file = await open(tmp, 'w');
  const hash = createHash('sha256');
  let written = 0;
  let inOrder = true;
  let closed = false;
  try {
    const muxer = new ClipMuxer(first.track, async (data, position) => {
      if (position !== written) inOrder = false;
      await writeAll(file, data, position);
      hash.update(data);
      written = Math.max(written, position + data.length);
    });
    try {
      for (const u of units) await muxer.add(u);
      const result = await muxer.finish();
      if (!inOrder) throw new Error('the muxer wrote out of order: the hash would not match the file');
      // Flushed before the rename: after a power cut the name points at whole data or at nothing.
      await file.datasync();
      await file.close();
      closed = true;
      await rename(tmp, final);
      await syncDir(dir);
      return { ...result, path: final, bytes: written, sha256: hash.digest('hex') };
    } catch (err) {
      await muxer.cancel();
      throw err;
    }
  } catch (err) {
    if (!closed) await file.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** A full disk may take part of a write before it refuses the rest: the rest is written until it fails. */
async function writeAll(file: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length;) {
    const { bytesWritten } = await file.write(data, done, data.length - done, position + done);
    if (bytesWritten === 0) throw Object.assign(new Error('no space left on device (a write took nothing)'), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
