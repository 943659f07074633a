import path from 'node:path';
import { pino } from 'pino';
import type { Config } from '../config/schema.js';
import { createLogger } from '../log.js';
import { describePrepared, prepareModels, type PreparedModel } from './prepare-models.js';

/**
 * The `vigild --prepare-models` mode: a report for a person on stdout, warnings and errors as JSON
 * lines on stderr (so the report stays readable and the log is still structured). Exit 0 when every
 * model is ready, 1 when any failed.
 */
function engineNote(r: PreparedModel): string {
  if (r.provider !== 'tensorrt') return '';
  return r.newEngineFiles.length > 0 ? ', engine built' : ', engine cached';
}

export async function runPrepareModels(cfg: Config): Promise<number> {
  const log = createLogger(process.env['VIGIL_LOG_LEVEL'] ?? 'warn', pino.destination(2));
  const engineDir = process.env['ORT_TENSORRT_CACHE_PATH'] ?? path.join(cfg.storage.dir, 'tensorrt');
  if (cfg.models.length === 0) {
    process.stdout.write('prepare-models: no models configured (models[] in the config): nothing to prepare\n');
    return 0;
  }
  process.stdout.write(`prepare-models: ${cfg.models.length} model(s), providers tried in order; TensorRT engine cache ${engineDir}\n`);
  const results = await prepareModels(cfg, log);
  for (const r of results) process.stdout.write(`${describePrepared(r, engineDir)}\n`);
  const failed = results.filter((r) => !r.ok).length;
  const each = results.map((r) => `${r.name} ${r.ok ? `on ${r.provider ?? '-'}${engineNote(r)}` : 'FAILED'}`).join(', ');
  process.stdout.write(`prepare-models: ${failed === 0 ? 'ready' : `${failed} of ${results.length} FAILED`}: ${each}\n`);
  return failed === 0 ? 0 : 1;
}
