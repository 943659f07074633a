import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { loadMotSequence, NoDetectionsError, type MotSequence } from '../daemon/analytics/mot/sequence.js';
import { repoRoot } from '../test/helpers/shared.js';

/**
 * The sequences the tracker scripts run over: `dirs`, or every fixture folder under
 * test/fixtures/mot that has its README (source and licence), passing over those without
 * detections (MOT20-01 is there for the evaluator only).
 */
export async function motSequences(dirs?: readonly string[]): Promise<MotSequence[]> {
  const fixtures = path.join(repoRoot, 'test', 'fixtures', 'mot');
  const folders = dirs ?? readdirSync(fixtures).sort().map((d) => path.join(fixtures, d)).filter((d) => existsSync(path.join(d, 'README.md')));
  const out: MotSequence[] = [];
  for (const dir of folders) {
    try {
      out.push(await loadMotSequence(dir, 25));
    } catch (err) {
      if (!(err instanceof NoDetectionsError)) throw err;
    }
  }
  return out;
}
