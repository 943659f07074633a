import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadMotFile, MotFormatError, type MotRow } from './format.js';
import type { MotBenchmark } from './preprocess.js';

/** One MOTChallenge sequence on disk: ground truth, public detections, and what seqinfo.ini says. */
export interface MotSequence {
  name: string;
  dir: string;
  gt: MotRow[];
  det: MotRow[];
  /** From seqinfo.ini's frameRate, else the caller's default. */
  fps: number;
  /** From seqinfo.ini's seqLength, else the last frame of gt or detections. */
  frames: number;
  /** MOT20 when the name says so (its extra distractor cannot be told from the rows); else detected from the ground truth. */
  benchmark: MotBenchmark | undefined;
}

/** The first of `candidates` (relative to `dir`) that exists, as MOTChallenge (`gt/gt.txt`) or flat (`gt.txt`) layouts put it. */
function find(dir: string, candidates: readonly string[], what: string): string {
  for (const c of candidates) {
    const file = path.join(dir, c);
    if (existsSync(file)) return file;
  }
  throw new MotFormatError(dir, null, `no ${what} (looked for ${candidates.join(', ')})`);
}

/** Reads `key=value` lines of seqinfo.ini; a missing file is no error, a bad number is. */
async function seqInfo(dir: string): Promise<{ fps?: number; frames?: number }> {
  const file = path.join(dir, 'seqinfo.ini');
  if (!existsSync(file)) return {};
  const values = new Map<string, string>();
  for (const line of (await readFile(file, 'utf8')).split(/\r?\n/)) {
    const m = /^\s*([A-Za-z]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m) values.set(m[1]!, m[2]!);
  }
  const num = (key: string): number | undefined => {
    const raw = values.get(key);
    if (raw === undefined) return undefined;
    const v = Number(raw);
    if (!(v > 0)) throw new MotFormatError(file, null, `${key} must be a positive number, found "${raw}"`);
    return v;
  };
  const fps = num('frameRate');
  const frames = num('seqLength');
  return { ...(fps === undefined ? {} : { fps }), ...(frames === undefined ? {} : { frames }) };
}

/** Loads a sequence folder: `gt/gt.txt` or `gt.txt`, `det/det.txt` or `det.txt`, and `seqinfo.ini` if present. */
export async function loadMotSequence(dir: string, defaultFps: number): Promise<MotSequence> {
  const gt = await loadMotFile(find(dir, ['gt/gt.txt', 'gt.txt'], 'ground truth'));
  const det = await loadMotFile(find(dir, ['det/det.txt', 'det.txt'], 'detections'));
  const info = await seqInfo(dir);
  const name = path.basename(path.resolve(dir));
  const last = Math.max(0, ...gt.map((r) => r.frame), ...det.map((r) => r.frame));
  return {
    name, dir, gt, det,
    fps: info.fps ?? defaultFps,
    frames: Math.max(info.frames ?? 0, last),
    benchmark: /^MOT20/i.test(name) ? 'MOT20' : undefined,
  };
}
