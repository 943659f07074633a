import { stat } from 'node:fs/promises';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import type { Provider } from '../config/schema.js';
import { errorMessage, ModelError } from '../errors.js';
import type { Logger } from '../log.js';
import { SampleRing } from '../util/sample-ring.js';
import type { Frame } from '../video/frame.js';
import { sha256File } from './checksum.js';
import { planDecoder, type Decode, type OutputShape } from './decoders/index.js';
import { batchProfileOf, loadManifest, type ResolvedManifest } from './manifest.js';
import { nms } from './nms.js';
import { Preprocessor, toSourceBox, type BatchTarget } from './preprocess.js';
import { openSession, type OpenedSession, type Precision } from './session.js';
import type { Detection, DetectorInfo, Placement, RawTensor } from './types.js';

export interface DetectorOptions {
  /** The model's name in the config, used in logs and reports. */
  name: string;
  manifestPath: string;
  /** Where relative `file`/`labels` paths resolve; without it, the manifest's own folder. */
  modelsDir?: string | undefined;
  providers: readonly Provider[];
  /** onnxruntime intra-op threads; 0 lets onnxruntime decide. */
  threads: number;
  /** TensorRT engine cache, normally under the state directory. */
  engineCacheDir?: string | undefined;
  /** TensorRT build precision of this variant; default fp32. */
  precision?: Precision | undefined;
  /** False when the TensorRT environment was set by the caller (the inference worker's parent). */
  prepareEnv?: boolean | undefined;
}

export interface DetectOptions {
  /** Overrides the manifest's default score threshold for this call. */
  scoreThreshold?: number | undefined;
}

/** What the video pipeline must deliver: frames scaled to fit width x height (aspect kept when letterbox). */
export interface InputSize {
  width: number;
  height: number;
  letterbox: boolean;
}

export interface Detector {
  readonly info: DetectorInfo;
  readonly labels: readonly string[];
  inputSize(): InputSize;
  /** Detections in source pixels, highest score first. Calls on one detector run one at a time. */
  detect(frame: Frame, opts?: DetectOptions): Promise<Detection[]>;
  /** Releases the session; waits for a detect in progress. Safe to call twice. */
  close(): Promise<void>;
  /**
   * Recent per-frame times, ms: `pre` filling the input tensor, `run` inside onnxruntime, `post`
   * decoding, NMS and mapping boxes back. `pre` and `post` are the JavaScript work around the model.
   */
  readonly profile?: DetectorProfile | undefined;
  /** Frames worth handing in at once: above 1, the detector takes the next frame while it runs one. */
  readonly pipelineDepth?: number | undefined;
  /** The stage times of the newest run; set by detectors that time their stages. */
  readonly last?: Readonly<StageTimes> | undefined;
  /** Frames one run takes (the manifest's `input.max_batch`; 1 when absent). */
  readonly maxBatch?: number | undefined;
  /** Up to `maxBatch` frames in one run; one detection list per frame, in order. */
  detectBatch?(frames: readonly Frame[], opts?: DetectOptions): Promise<Detection[][]>;
}

/**
 * The detector as the inference worker holds it: besides frames, it takes an input tensor its
 * caller already filled (the worker's parent fills it, see worker-detector.ts).
 */
export interface LocalDetector extends Detector {
  /**
   * Runs the model on `input`, which holds `placements.length` frames one after the other (each
   * the model's input size, filled as `Preprocessor.fill` does), placed as `placements` say.
   */
  detectFilled(input: Float32Array, placements: readonly Placement[], opts?: DetectOptions): Promise<Detection[][]>;
  detectBatch(frames: readonly Frame[], opts?: DetectOptions): Promise<Detection[][]>;
  readonly last: Readonly<StageTimes>;
  readonly maxBatch: number;
  readonly profile: DetectorProfile;
}

export interface DetectorProfile {
  readonly preMs: SampleRing;
  readonly runMs: SampleRing;
  readonly postMs: SampleRing;
  /**
   * The inference worker's thread only: how long it waited for each request after finishing the
   * one before (ms), and its working time in total since the start (ms; differences over a window
   * give the share of time the model's thread works).
   */
  readonly idleMs?: SampleRing;
  readonly busy?: { totalMs: number };
}

/** One frame's stage times, ms (see `Detector.profile`). */
export interface StageTimes {
  preMs: number;
  runMs: number;
  postMs: number;
}

function isDynamic(d: number | string | undefined): boolean {
  return typeof d === 'string' || d === undefined || d < 0;
}

/** Checks the model's input against the manifest, so a wrong manifest fails at load, not per frame. */
function resolveInputName(session: InferenceSession, m: ResolvedManifest, expected: readonly number[]): string {
  const where = `model ${m.modelPath} (manifest ${m.manifestPath})`;
  const wanted = m.manifest.input.name;
  const meta = wanted !== undefined
    ? session.inputMetadata.find((i) => i.name === wanted)
    : session.inputMetadata.length === 1 ? session.inputMetadata[0] : undefined;
  if (meta === undefined) {
    const names = session.inputNames.map((n) => `"${n}"`).join(', ');
    throw new ModelError(wanted !== undefined
      ? `${where} has no input "${wanted}" (input.name); its inputs are ${names}`
      : `${where} has several inputs (${names}); name the image input in input.name`);
  }
  if (!meta.isTensor || meta.type !== 'float32') {
    throw new ModelError(`${where}: input "${meta.name}" is ${meta.isTensor ? meta.type : 'not a tensor'}, expected float32`);
  }
  const shape = meta.shape;
  const fits = shape.length === 0 // shape unknown to onnxruntime: nothing to check
    || (shape.length === expected.length && shape.every((d, i) => isDynamic(d) || d === expected[i]));
  if (!fits) {
    throw new ModelError(`${where}: input "${meta.name}" has shape [${shape.join(', ')}], but the manifest's input ` +
      `(${m.manifest.input.layout}, ${m.manifest.input.width}x${m.manifest.input.height}) needs [${expected.join(', ')}]`);
  }
  const maxBatch = m.manifest.input.max_batch;
  if (maxBatch > 1 && shape.length > 0 && !isDynamic(shape[0])) {
    throw new ModelError(`${where}: input.max_batch is ${maxBatch}, but input "${meta.name}" has a fixed batch dimension of ` +
      `${shape[0]} (shape [${shape.join(', ')}]); export the model with a dynamic batch or set max_batch to 1`);
  }
  return meta.name;
}

function toRaw(results: InferenceSession.OnnxValueMapType, names: readonly string[], where: string): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  for (const name of names) {
    const t = results[name];
    if (t === undefined) throw new ModelError(`${where}: output "${name}" missing from the result`);
    if (!(t.data instanceof Float32Array)) throw new ModelError(`${where}: output "${name}" is ${t.type}, expected float32`);
    out[name] = { dims: t.dims, data: t.data };
  }
  return out;
}

/**
 * NaN or infinite outputs (a broken export, an INT8 calibration gone wrong, fp16 overflow) decode
 * to no detections at all, which looks exactly like an empty scene. Failing the frame instead makes
 * the fault visible and lets the probation watch roll the model back.
 */
function assertFinite(outputs: Readonly<Record<string, RawTensor>>, where: string): void {
  for (const [name, t] of Object.entries(outputs)) {
    const d = t.data;
    // x * 0 is 0 for every finite x and NaN for NaN and ±Infinity; a branch-free sum is about three
    // times faster than testing each value, so the slow search for the culprit runs only once one
    // is known to be there. Four sums, because one waits on each add: 0.29 against 0.49 ms for
    // NanoDet-m's 400k outputs here, on the inference thread's time.
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    const whole = d.length - (d.length % 4);
    let i = 0;
    for (; i < whole; i += 4) {
      a0 += (d[i] as number) * 0;
      a1 += (d[i + 1] as number) * 0;
      a2 += (d[i + 2] as number) * 0;
      a3 += (d[i + 3] as number) * 0;
    }
    for (; i < d.length; i++) a0 += (d[i] as number) * 0;
    if (a0 + a1 + a2 + a3 === 0) continue;
    const at = d.findIndex((v) => !Number.isFinite(v));
    throw new ModelError(`${where}: output "${name}" holds a non-finite value (${d[at]}) at index ${at}`);
  }
}

/**
 * One frame's share of a batched run's outputs: views (no copies) with a batch dimension of 1, the
 * shapes the decoder was planned for.
 */
function frameOutputs(outputs: Readonly<Record<string, RawTensor>>, frames: number, where: string): Record<string, RawTensor>[] {
  if (frames === 1) return [outputs];
  const each: Record<string, RawTensor>[] = Array.from({ length: frames }, () => ({}));
  for (const [name, t] of Object.entries(outputs)) {
    if (t.dims[0] !== frames) {
      throw new ModelError(`${where}: output "${name}" has shape [${t.dims.join(', ')}] for a batch of ${frames} frames`);
    }
    const per = t.data.length / frames;
    const dims = [1, ...t.dims.slice(1)];
    for (let i = 0; i < frames; i++) (each[i] as Record<string, RawTensor>)[name] = { dims, data: t.data.subarray(i * per, (i + 1) * per) };
  }
  return each;
}

const shapeKey = (outputs: Readonly<Record<string, RawTensor>>): string =>
  Object.entries(outputs).map(([n, t]) => `${n}:${t.dims.join('x')}`).join(',');

/** Refuses a run of more frames than the model takes (or none); `who` names the model in the message. */
export function checkBatchSize(frames: number, maxBatch: number, who: string): void {
  if (frames < 1 || frames > maxBatch) throw new Error(`a batch of ${frames} frames, but ${who} takes 1 to ${maxBatch} (input.max_batch)`);
}

class OnnxDetector implements LocalDetector {
  private readonly input: Tensor;
  /** The batch input (`maxBatch` frames), made on the first batch; a smaller batch uses its first frames. */
  private batch: BatchTarget | null = null;
  readonly maxBatch: number;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  readonly profile: DetectorProfile = { preMs: new SampleRing(), runMs: new SampleRing(), postMs: new SampleRing() };
  /** The stage times of the newest frame, which the inference worker sends back with its result. */
  readonly last: StageTimes = { preMs: 0, runMs: 0, postMs: 0 };

  constructor(
    readonly info: DetectorInfo,
    readonly labels: readonly string[],
    private readonly m: ResolvedManifest,
    private readonly session: InferenceSession,
    private readonly inputName: string,
    private readonly pre: Preprocessor,
    private readonly decode: Decode,
    private readonly outputKey: string,
  ) {
    // Wraps the preprocessor's buffer once; each run reads whatever it holds at that moment.
    this.input = new Tensor('float32', pre.tensor, pre.dims);
    this.maxBatch = m.manifest.input.max_batch;
  }

  inputSize(): InputSize {
    const i = this.m.manifest.input;
    return { width: i.width, height: i.height, letterbox: i.resize === 'letterbox' };
  }

  detect(frame: Frame, opts: DetectOptions = {}): Promise<Detection[]> {
    // One input buffer per detector: a second frame must not overwrite it while a run reads it.
    const run = this.tail.then(() => this.detectNow(frame, opts));
    this.tail = run.catch(() => undefined);
    return run;
  }

  detectBatch(frames: readonly Frame[], opts: DetectOptions = {}): Promise<Detection[][]> {
    const run = this.tail.then(() => this.detectBatchNow(frames, opts));
    this.tail = run.catch(() => undefined);
    return run;
  }

  detectFilled(input: Float32Array, placements: readonly Placement[], opts: DetectOptions = {}): Promise<Detection[][]> {
    const run = this.tail.then(() => {
      const frames = placements.length;
      const per = this.pre.tensor.length;
      checkBatchSize(frames, this.maxBatch, 'the model');
      if (input.length !== frames * per) {
        throw new Error(`input tensor holds ${input.length} values, expected ${frames * per} for ${frames} x [${this.pre.dims.slice(1).join(', ')}]`);
      }
      return this.runAndDecode(new Tensor('float32', input, [frames, ...this.pre.dims.slice(1)]), placements, opts, 0);
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async detectNow(frame: Frame, opts: DetectOptions): Promise<Detection[]> {
    if (this.closed) throw new ModelError(`detector ${this.info.name} is closed`);
    const t0 = performance.now();
    const placement = this.pre.fill(frame);
    const [detections] = await this.runAndDecode(this.input, [placement], opts, performance.now() - t0);
    return detections as Detection[];
  }

  private detectBatchNow(frames: readonly Frame[], opts: DetectOptions): Promise<Detection[][]> {
    if (this.closed) throw new ModelError(`detector ${this.info.name} is closed`);
    const n = frames.length;
    checkBatchSize(n, this.maxBatch, 'the model');
    const t0 = performance.now();
    this.batch ??= this.pre.newBatch(this.maxBatch);
    const batch = this.batch;
    const placements = frames.map((f, i) => this.pre.fill(f, batch.targets[i]));
    const tensor = new Tensor('float32', batch.data.subarray(0, n * this.pre.tensor.length), [n, ...this.pre.dims.slice(1)]);
    return this.runAndDecode(tensor, placements, opts, performance.now() - t0);
  }

  private async runAndDecode(input: Tensor, placements: readonly Placement[], opts: DetectOptions, preMs: number): Promise<Detection[][]> {
    if (this.closed) throw new ModelError(`detector ${this.info.name} is closed`);
    const where = `model ${this.m.modelPath}`;
    const t1 = performance.now();
    const results = await this.session.run({ [this.inputName]: input });
    const t2 = performance.now();
    const outputs = toRaw(results, this.session.outputNames, where);
    assertFinite(outputs, where);
    const perFrame = frameOutputs(outputs, placements.length, where);
    const key = shapeKey(perFrame[0] ?? {});
    if (key !== this.outputKey) throw new ModelError(`${where}: output shapes changed from ${this.outputKey} to ${key}`);

    const manifest = this.m.manifest;
    const threshold = opts.scoreThreshold ?? manifest.thresholds.score;
    const all = perFrame.map((out, f) => {
      const placement = placements[f] as Placement;
      const kept = nms(this.decode(out, threshold), manifest.thresholds.iou, manifest.max_detections);
      const detections: Detection[] = [];
      for (const c of kept) {
        const box = toSourceBox(c.x1, c.y1, c.x2, c.y2, placement);
        // A candidate lying wholly in the padding clips to nothing: it is not in the picture.
        if (box[2] <= box[0] || box[3] <= box[1]) continue;
        detections.push({ classId: c.classId, label: this.labels[c.classId] ?? `class${c.classId}`, score: c.score, box });
      }
      return detections;
    });
    this.last.preMs = preMs;
    this.last.runMs = t2 - t1;
    this.last.postMs = performance.now() - t2;
    this.profile.preMs.push(this.last.preMs);
    this.profile.runMs.push(this.last.runMs);
    this.profile.postMs.push(this.last.postMs);
    return all;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    await this.session.release();
  }
}

/**
 * Loads a detector described by a model manifest: checks the file against its sha256, opens an
 * onnxruntime session with the first execution provider that works, checks the model's tensors
 * against the manifest and plans the decoder from the real output shapes (one warm-up run),
 * so every mismatch surfaces here as a ModelError instead of on the first frame.
 */
export async function loadDetector(opts: DetectorOptions, log: Logger): Promise<LocalDetector> {
  const started = Date.now();
  const m = await loadManifest(opts.manifestPath, opts.modelsDir);
  const { manifest, modelPath } = m;
  const where = `model ${modelPath} (manifest ${m.manifestPath})`;

  try {
    const st = await stat(modelPath);
    if (!st.isFile()) throw new Error('not a regular file');
  } catch (err) {
    throw new ModelError(`${where}: model file not found or unreadable: ${errorMessage(err)}`, { cause: err });
  }
  const actual = await sha256File(modelPath);
  if (actual !== manifest.sha256) {
    throw new ModelError(`${where}: sha256 mismatch: expected ${manifest.sha256}, actual ${actual} (a partial download or the wrong file)`);
  }

  let opened: OpenedSession;
  try {
    opened = await openSession(modelPath, { providers: opts.providers, threads: opts.threads, engineCacheDir: opts.engineCacheDir,
      precision: opts.precision, prepareEnv: opts.prepareEnv, batchProfile: batchProfileOf(manifest.input) }, log);
  } catch (err) {
    throw new ModelError(`cannot load ${where}: ${errorMessage(err)}`, { cause: err });
  }
  const { session, provider } = opened;

  try {
    const pre = new Preprocessor(manifest.input);
    const inputName = resolveInputName(session, m, pre.dims);
    const warm = await session.run({ [inputName]: new Tensor('float32', pre.tensor, pre.dims) });
    const outputs = toRaw(warm, session.outputNames, where);
    const shapes: OutputShape[] = Object.entries(outputs).map(([name, t]) => ({ name, dims: t.dims }));
    let decode: Decode;
    try {
      decode = planDecoder(manifest.family, shapes, {
        inputWidth: manifest.input.width, inputHeight: manifest.input.height, numClasses: m.labels.length,
      });
    } catch (err) {
      throw new ModelError(`${where}: outputs do not fit family "${manifest.family}": ${errorMessage(err)}`, { cause: err });
    }
    const info: DetectorInfo = {
      name: opts.name, family: manifest.family, provider,
      inputWidth: manifest.input.width, inputHeight: manifest.input.height,
    };
    log.info({ model: opts.name, file: modelPath, family: manifest.family, provider, classes: m.labels.length,
      ms: Date.now() - started }, 'detector loaded');
    return new OnnxDetector(info, m.labels, m, session, inputName, pre, decode, shapeKey(outputs));
  } catch (err) {
    await session.release().catch(() => undefined);
    if (err instanceof ModelError) throw err;
    throw new ModelError(`${where}: ${errorMessage(err)}`, { cause: err });
  }
}
