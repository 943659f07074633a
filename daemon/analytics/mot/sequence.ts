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
function find(dir: string, candidates: readonly string[]): string | undefined {
  return candidates.map((c) => path.join(dir, c)).find((file) => existsSync(file));
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

/** Where a sequence folder may hold `name` (e.g. `gt`): MOTChallenge's layout or flat, each plain or gzip-compressed. */
const layouts = (name: string): string[] => [`${name}/${name}.txt`, `${name}.txt`, `${name}/${name}.txt.gz`, `${name}.txt.gz`];

/** A sequence folder with ground truth but no detection file: the bench passes over it when given several. */
export class NoDetectionsError extends MotFormatError {}

/**
 * Loads a sequence folder: `gt/gt.txt` or `gt.txt`, `det/det.txt` or `det.txt` (each may be
 * gzip-compressed, `.txt.gz`), and `seqinfo.ini` if present.
 */
export async function loadMotSequence(dir: string, defaultFps: number): Promise<MotSequence> {
  const gtFile = find(dir, layouts('gt'));
  if (gtFile === undefined) throw new MotFormatError(dir, null, `no ground truth (looked for ${layouts('gt').join(', ')})`);
  const detFile = find(dir, layouts('det'));
  if (detFile === undefined) throw new NoDetectionsError(dir, null, `no detections (looked for ${layouts('det').join(', ')})`);
  const gt = await loadMotFile(gtFile);
  const det = await loadMotFile(detFile);
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
