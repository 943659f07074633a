import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { VigilError } from '../../errors.js';
import type { Box } from '../../inference/types.js';

/**
 * One line of a MOTChallenge text file: `frame,id,x,y,w,h,conf[,x,y,z]`, with the box's top-left
 * corner and size in pixels. Detection files carry id -1; ground truth and tracker output carry
 * the identity.
 */
export interface MotRow {
  frame: number;
  id: number;
  /** [x1, y1, x2, y2], like every other box in Vigil. */
  box: Box;
  /**
   * Detection score; -1 where the file has none (tracker output), 1 where the column is missing.
   * In MOT16/17/20 ground truth this column is the flag: 0 marks a box the evaluation ignores.
   */
  conf: number;
  /**
   * Object class of a 9-column line (MOT16/17/20 ground truth: 1 pedestrian, 7 static person, ...).
   * Absent for the 10-column MOT15 form, whose 8th to 10th columns are world coordinates, not a class.
   */
  cls?: number;
  /** Visibility ratio of a 9-column ground-truth line (0..1). */
  visibility?: number;
}

/** A MOTChallenge file that cannot be read as one: the message names the file and the line. */
export class MotFormatError extends VigilError {
  constructor(readonly file: string, readonly line: number | null, problem: string) {
    super(`${file}${line === null ? '' : `:${line}`}: ${problem}`, 2);
  }
}

/**
 * Parses MOTChallenge text. Fields are separated by commas (spaces are accepted too, as some tools
 * write them); blank lines and a missing final newline are fine. `file` is only used in errors.
 * A repeated (frame, id) is an error for identities ≥ 0, as in the MOT devkit: an evaluation
 * over such a file would silently count one object twice.
 */
export function parseMot(text: string, file: string): MotRow[] {
  const rows: MotRow[] = [];
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.trim();
    if (line === '') continue;
    const fields = line.split(/\s*,\s*|\s+/);
    if (fields.length < 6) throw new MotFormatError(file, lineNo, `expected at least 6 fields (frame,id,x,y,w,h), found ${fields.length}`);
    const num = (k: number, name: string): number => {
      const v = Number(fields[k]);
      if (fields[k] === '' || !Number.isFinite(v)) throw new MotFormatError(file, lineNo, `${name} is not a number: "${fields[k]}"`);
      return v;
    };
    const frame = num(0, 'frame');
    const id = num(1, 'id');
    const [x, y, w, h] = [num(2, 'x'), num(3, 'y'), num(4, 'width'), num(5, 'height')];
    const conf = fields.length > 6 ? num(6, 'conf') : 1;
    const classed = fields.length === 9 ? { cls: num(7, 'class'), visibility: num(8, 'visibility') } : {};
    if (!Number.isInteger(frame) || frame < 1) throw new MotFormatError(file, lineNo, `frame must be an integer ≥ 1, found ${fields[0]}`);
    if (!Number.isInteger(id) || id < -1) throw new MotFormatError(file, lineNo, `id must be an integer ≥ -1, found ${fields[1]}`);
    if (w < 0 || h < 0) throw new MotFormatError(file, lineNo, `width and height must not be negative, found ${fields[4]}×${fields[5]}`);
    if (id >= 0) {
      const key = `${frame}:${id}`;
      const before = seen.get(key);
      if (before !== undefined) throw new MotFormatError(file, lineNo, `frame ${frame} has id ${id} twice (first on line ${before})`);
      seen.set(key, lineNo);
    }
    rows.push({ frame, id, box: [x, y, x + w, y + h], conf, ...classed });
  }
  return rows;
}

const gunzipAsync = promisify(gunzip);

/**
 * Reads and parses a MOTChallenge file, gunzipping one whose name ends in `.gz` (the test fixtures
 * keep MOTChallenge's files compressed, unchanged); a missing, unreadable or corrupt file is a
 * MotFormatError too.
 */
export async function loadMotFile(file: string): Promise<MotRow[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MotFormatError(file, null, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? String(err)})`);
  }
  if (file.endsWith('.gz')) {
    try {
      bytes = await gunzipAsync(bytes);
    } catch (err) {
      throw new MotFormatError(file, null, `is not a gzip file (${(err as Error).message})`);
    }
  }
  return parseMot(bytes.toString('utf8'), file);
}

/** Writes rows as MOTChallenge text (10 columns, one line per row, final newline). */
export function formatMot(rows: readonly MotRow[]): string {
  const r = (v: number, places = 2): string => String(Math.round(v * 10 ** places) / 10 ** places);
  return rows.map((m) => [m.frame, m.id, r(m.box[0]), r(m.box[1]), r(m.box[2] - m.box[0]), r(m.box[3] - m.box[1]),
    r(m.conf, 4), -1, -1, -1].join(',')).join('\n') + (rows.length > 0 ? '\n' : '');
}

/** Groups rows by frame number. */
export function byFrame(rows: readonly MotRow[]): Map<number, MotRow[]> {
  const frames = new Map<number, MotRow[]>();
  for (const row of rows) {
    const list = frames.get(row.frame);
    if (list) list.push(row);
    else frames.set(row.frame, [row]);
  }
  return frames;
}
