import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Frame } from '../video/frame.js';
import { loadDetector } from './detector.js';

export interface PreparedModel {
  name: string;
  ok: boolean;
  provider: string | null;
  /** Checksum, session (and on TensorRT the engine build), and the first run. */
  loadMs: number | null;
  /** One inference on a grey frame after the load: what a frame will cost from now on. */
  warmInferenceMs: number | null;
  /** Files the load added to the engine cache (TensorRT engines and profiles). */
  newEngineFiles: string[];
  /** What is in the engine cache after the load. */
  engineFiles: number;
  error: string | null;
}

async function listFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
      .sort();
  } catch {
    return [];
  }
}

/**
 * `vigild --prepare-models`: loads every configured model with its configured providers, as the
 * daemon would, so that TensorRT builds its engines into the cache under the state directory now
 * (minutes per model on an Orin) instead of at the first start on site, then runs one inference.
 * Models are prepared one at a time: two engine builds at once compete for the GPU and memory.
 */
export async function prepareModels(cfg: Config, log: Logger): Promise<PreparedModel[]> {
  const engineCacheDir = path.join(cfg.storage.dir, 'tensorrt');
  const results: PreparedModel[] = [];
  for (const ref of cfg.models) {
    // An operator's own ORT_TENSORRT_CACHE_PATH wins over ours (session.ts), so look where TensorRT writes.
    const cacheDir = (): string => process.env['ORT_TENSORRT_CACHE_PATH'] ?? engineCacheDir;
    const before = new Set(await listFiles(cacheDir()));
    const started = performance.now();
    const result: PreparedModel = {
      name: ref.name, ok: false, provider: null, loadMs: null, warmInferenceMs: null, newEngineFiles: [], engineFiles: before.size, error: null,
    };
    try {
      const detector = await loadDetector({
        name: ref.name, manifestPath: ref.manifest, modelsDir: cfg.models_dir, providers: ref.providers ?? cfg.inference.providers,
        threads: cfg.inference.threads, engineCacheDir,
      }, log.child({ component: 'inference', model: ref.name }));
      result.loadMs = Math.round(performance.now() - started);
      result.provider = detector.info.provider;
      try {
        const { width, height } = detector.inputSize();
        const frame: Frame = {
          streamId: 'prepare', seq: 0, ts: Date.now(), format: 'BGRx', width, height,
          data: Buffer.alloc(width * height * 4, 114), sourceWidth: width, sourceHeight: height,
        };
        const t0 = performance.now();
        await detector.detect(frame);
        result.warmInferenceMs = Math.round((performance.now() - t0) * 10) / 10;
        result.ok = true;
      } finally {
        await detector.close();
      }
    } catch (err) {
      result.error = errorMessage(err);
    }
    const after = await listFiles(cacheDir());
    result.newEngineFiles = after.filter((f) => !before.has(f));
    result.engineFiles = after.length;
    results.push(result);
  }
  return results;
}

/** One line per model, for the technician running provisioning. */
export function describePrepared(r: PreparedModel, engineCacheDir: string): string {
  if (!r.ok) return `FAIL  ${r.name}  ${r.error ?? 'unknown error'}`;
  const timing = `provider ${r.provider ?? '-'}, loaded in ${r.loadMs ?? '-'} ms (checksum, session, first run), warm inference ${r.warmInferenceMs ?? '-'} ms`;
  let engine: string;
  if (r.provider !== 'tensorrt') {
    engine = `no engine to build on ${r.provider ?? 'this provider'} (TensorRT only)`;
  } else if (r.newEngineFiles.length > 0) {
    engine = `engine built and cached in ${engineCacheDir} (${r.newEngineFiles.length} new files)`;
  } else {
    engine = `engine cache in ${engineCacheDir} reused (${r.engineFiles} files)`;
  }
  return `OK    ${r.name}  ${timing}; ${engine}`;
}
