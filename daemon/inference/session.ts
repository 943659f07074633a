import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import type { Provider } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

export type Precision = 'fp32' | 'fp16' | 'int8';

export interface SessionOptions {
  /** Tried in this order; the first that creates a session is used. */
  providers: readonly Provider[];
  /** onnxruntime intra-op threads; 0 lets onnxruntime decide. */
  threads: number;
  /** Where TensorRT keeps built engines (under the state directory), so a restart does not rebuild them. */
  engineCacheDir?: string | undefined;
  /** TensorRT build precision (fp16/int8 set the ORT_TENSORRT_* flags); other providers run the file as it is. */
  precision?: Precision | undefined;
  /**
   * False when the ORT_TENSORRT_* variables were already set for this session by the thread that
   * owns the process environment (see inference/worker-detector.ts).
   */
  prepareEnv?: boolean | undefined;
  /** The input's batch range, for a model that takes several frames in one run (TensorRT's optimization profile). */
  batchProfile?: BatchProfile | undefined;
}

/** A model input with a dynamic batch dimension: its name, the most frames one run takes, and one frame's dims. */
export interface BatchProfile {
  input: string;
  maxBatch: number;
  /** The dims after the batch dimension, e.g. [3, 416, 416] for NCHW. */
  frame: readonly number[];
}

/**
 * TensorRT's optimization profile for a batch range, as ORT_TENSORRT_PROFILE_*_SHAPES take it
 * (`name:1x3x416x416`). Without one, TensorRT builds an engine for the first batch size it sees and
 * rebuilds (seconds to minutes on a Jetson) whenever a run brings another. The optimum is the full
 * batch: batches are full exactly when the model is the bottleneck, which is when speed counts.
 */
export function tensorRtProfileShapes(p: BatchProfile): { min: string; opt: string; max: string } {
  if (!/^[^:,]+$/.test(p.input)) throw new Error(`input name "${p.input}" cannot be written in a TensorRT profile (it holds ":" or ",")`);
  const dims = (b: number): string => `${p.input}:${[b, ...p.frame].join('x')}`;
  return { min: dims(1), opt: dims(p.maxBatch), max: dims(p.maxBatch) };
}

export interface OpenedSession {
  session: InferenceSession;
  provider: Provider;
}

/** Every provider failed; `failures` says why each did, in the order tried. */
export class NoProviderError extends Error {
  constructor(readonly failures: ReadonlyArray<{ provider: Provider; reason: string }>) {
    super(`no execution provider could load the model: ${failures.map((f) => `${f.provider}: ${f.reason}`).join('; ')}`);
    this.name = 'NoProviderError';
  }
}

/** The values this module last wrote; a variable holding anything else was set by the operator. */
const ours = new Map<string, string>();

/** Sets `name` unless someone other than this module has set it: an operator's own setting wins. */
function setOwned(name: string, value: string): void {
  const current = process.env[name];
  if (current !== undefined && current !== ours.get(name)) return;
  process.env[name] = value;
  ours.set(name, value);
}

/** Removes `name` if this module set it; an operator's own value stays. */
function clearOwned(name: string): void {
  if (process.env[name] !== undefined && process.env[name] === ours.get(name)) delete process.env[name];
  ours.delete(name);
}

const PROFILE_VARS = { min: 'ORT_TENSORRT_PROFILE_MIN_SHAPES', opt: 'ORT_TENSORRT_PROFILE_OPT_SHAPES', max: 'ORT_TENSORRT_PROFILE_MAX_SHAPES' } as const;

/**
 * The Node binding passes only `deviceId` to TensorRT; everything else (FP16, engine cache) is
 * read from ORT_TENSORRT_* variables when the provider is created. So they are set again before
 * every session: each model version and precision has its own engine cache folder (see
 * engineCacheKey), and a value left by the previous model must not leak into the next.
 * An operator's own settings in the service environment win.
 */
export function prepareTensorRtEnv(cacheDir: string | undefined, precision: Precision | undefined, log: Logger,
  batch?: BatchProfile): void {
  setOwned('ORT_TENSORRT_FP16_ENABLE', precision === 'fp16' || precision === 'int8' ? '1' : '0');
  setOwned('ORT_TENSORRT_INT8_ENABLE', precision === 'int8' ? '1' : '0');
  // A batch-1 model's engine is built for its static shape; a profile left by a batched model
  // would name an input this one may not have.
  const shapes = batch !== undefined && batch.maxBatch > 1 ? tensorRtProfileShapes(batch) : undefined;
  for (const k of ['min', 'opt', 'max'] as const) {
    if (shapes === undefined) clearOwned(PROFILE_VARS[k]);
    else setOwned(PROFILE_VARS[k], shapes[k]);
  }
  if (cacheDir === undefined) return;
  setOwned('ORT_TENSORRT_ENGINE_CACHE_ENABLE', '1');
  // An engine is built for one profile: a new max_batch for the same file gets a folder of its own.
  const dir = path.resolve(shapes === undefined ? cacheDir : path.join(cacheDir, `batch-${batch?.maxBatch ?? 1}`));
  try {
    mkdirSync(dir, { recursive: true });
    setOwned('ORT_TENSORRT_CACHE_PATH', dir);
  } catch (err) {
    log.warn({ dir, err: errorMessage(err) }, 'cannot create the TensorRT engine cache; engines will be rebuilt at every start');
  }
}

function providerConfig(p: Provider): InferenceSession.ExecutionProviderConfig {
  switch (p) {
    case 'tensorrt': return { name: 'tensorrt', deviceId: 0 };
    case 'cuda': return { name: 'cuda', deviceId: 0 };
    case 'cpu': return 'cpu';
  }
}

/**
 * GPU providers live in shared libraries beside the binding that onnxruntime-node's npm build does
 * not ship (its installer fetches them, and we skip that on CPU machines). Asking onnxruntime for a
 * provider whose library is absent prints red native error lines on stderr, outside our logger, on
 * every start; checking the file first turns that into one structured warning.
 * Returns the missing library's path, or null when the provider can be tried.
 */
export function missingProviderLibrary(p: Provider): string | null {
  if (p === 'cpu') return null;
  let dir: string;
  try {
    const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
    dir = path.join(path.dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null; // layout unknown (a custom build): let onnxruntime decide
  }
  if (!existsSync(path.join(dir, 'onnxruntime_binding.node'))) return null;
  for (const lib of ['libonnxruntime_providers_shared.so', `libonnxruntime_providers_${p}.so`]) {
    const file = path.join(dir, lib);
    if (!existsSync(file)) return file;
  }
  return null;
}

/** A Jetson, where GPU providers are expected to load (the same test as `vigilctl doctor`'s). */
function onJetson(): boolean {
  if (existsSync('/etc/nv_tegra_release')) return true;
  try {
    return readFileSync('/proc/device-tree/model', 'utf8').includes('NVIDIA Jetson');
  } catch {
    return false;
  }
}

/** onnxruntime's session factory, replaceable so that provider fallback can be tested without a GPU. */
export type CreateSession = (modelPath: string, options: InferenceSession.SessionOptions) => Promise<InferenceSession>;

const createOrtSession: CreateSession = (modelPath, options) => InferenceSession.create(modelPath, options);

/**
 * Creates a session with each configured provider in turn. A GPU provider that fails to load
 * (no library, no device, no TensorRT build) is the normal case on a development machine, so it
 * is a warning and the next provider is tried; only when all fail is it an error.
 * A session with a GPU provider also lists the providers configured after it, so nodes the first
 * cannot run go to the next (TensorRT to CUDA) rather than straight to the CPU.
 */
export async function openSession(modelPath: string, opts: SessionOptions, log: Logger,
  create: CreateSession = createOrtSession,
  missingLibrary: (p: Provider) => string | null = create === createOrtSession ? missingProviderLibrary : () => null,
): Promise<OpenedSession> {
  const failures: { provider: Provider; reason: string }[] = [];
  for (let i = 0; i < opts.providers.length; i++) {
    const provider = opts.providers[i] as Provider;
    const missing = missingLibrary(provider);
    if (missing !== null) {
      const reason = `provider library not installed: ${missing}`;
      failures.push({ provider, reason });
      // Off a Jetson this is how the npm build always is (it ships no GPU libraries): expected, not a warning.
      log[onJetson() ? 'warn' : 'info']({ provider, model_path: modelPath, reason, next: opts.providers[i + 1] ?? null }, 'execution provider failed to load the model');
      continue;
    }
    if (provider === 'tensorrt' && opts.prepareEnv !== false) prepareTensorRtEnv(opts.engineCacheDir, opts.precision, log, opts.batchProfile);
    const options: InferenceSession.SessionOptions = {
      executionProviders: opts.providers.slice(i).map(providerConfig),
      graphOptimizationLevel: 'all',
      // NanoDet's old exporter lists every initializer as an input and onnxruntime warns about
      // each one at the default level: hundreds of lines per load in the journal.
      logSeverityLevel: 3,
      ...(opts.threads > 0 ? { intraOpNumThreads: opts.threads } : {}),
    };
    try {
      const session = await create(modelPath, options);
      return { session, provider };
    } catch (err) {
      const reason = errorMessage(err);
      failures.push({ provider, reason });
      const next = opts.providers[i + 1];
      log.warn({ provider, model_path: modelPath, reason, next: next ?? null }, 'execution provider failed to load the model');
    }
  }
  throw new NoProviderError(failures);
}
