import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import jpeg from 'jpeg-js';
import type { Frame } from '../video/frame.js';
import { drawBox, toRgba, type Box } from './draw.js';

/** One snapshot to encode: a copy of the analysis frame, the boxes in its pixels, where to write it. */
export interface SnapshotJob {
  id: number;
  data: Uint8Array;
  width: number;
  height: number;
  format: Frame['format'];
  boxes: Box[];
  quality: number;
  file: string;
}

export type SnapshotResult = { id: number; ok: true; jpeg: Uint8Array; encodeMs: number } | { id: number; ok: false; error: string };

/** The object of the event in red, the others (a crowd's members) in yellow. */
const FIRST: [number, number, number] = [255, 32, 32];
const OTHERS: [number, number, number] = [255, 220, 0];

/**
 * Encodes and writes one snapshot; runs in the snapshot worker (or inline, in tests). The file is
 * written under a temporary name and renamed, so a reader never sees half a JPEG.
 */
export function runSnapshotJob(job: SnapshotJob): SnapshotResult {
  try {
    const started = performance.now();
    const rgba = toRgba(job.data, job.width, job.height, job.format);
    const thickness = Math.max(2, Math.round(Math.min(job.width, job.height) / 200));
    job.boxes.forEach((b, i) => drawBox(rgba, job.width, job.height, b, i === 0 ? FIRST : OTHERS, thickness));
    const encoded = jpeg.encode({ data: rgba, width: job.width, height: job.height }, job.quality).data;
    mkdirSync(path.dirname(job.file), { recursive: true });
    const tmp = `${job.file}.tmp`;
    writeFileSync(tmp, encoded);
    renameSync(tmp, job.file);
    return { id: job.id, ok: true, jpeg: new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.length), encodeMs: performance.now() - started };
  } catch (err) {
    return { id: job.id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}
