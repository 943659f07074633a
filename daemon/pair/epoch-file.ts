import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../manage/atomic-write.js';

/** The pair's epoch survives restarts in the state directory, so a restarted device never reuses a term. */
export const EPOCH_FILE = 'pair-epoch.json';

export function readEpoch(dir: string): number {
  let text: string;
  try {
    text = readFileSync(path.join(dir, EPOCH_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new Error(`cannot read ${path.join(dir, EPOCH_FILE)}: ${(err as Error).message}`);
  }
  const epoch = (JSON.parse(text) as { epoch?: unknown }).epoch;
  if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0) {
    throw new Error(`${path.join(dir, EPOCH_FILE)}: "epoch" must be a non-negative integer`);
  }
  return epoch;
}

export function writeEpoch(dir: string, epoch: number): Promise<void> {
  return writeFileAtomic(path.join(dir, EPOCH_FILE), `${JSON.stringify({ epoch })}\n`);
}
