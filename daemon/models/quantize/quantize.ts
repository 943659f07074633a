import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { errorMessage } from '../../errors.js';
import { type InputSize, type LocalDetector, loadDetector } from '../../inference/detector.js';
import { loadManifest, type ResolvedManifest } from '../../inference/manifest.js';
import { Preprocessor } from '../../inference/preprocess.js';
import type { Detection } from '../../inference/types.js';
import { silentLogger } from '../../log.js';
import type { Frame } from '../../video/frame.js';
import { sha256File } from '../../inference/checksum.js';
import { calibrate, type CalibrationInput, type CalibrationMethod } from './calibrate.js';
import { compareDetections, type Fidelity } from './fidelity.js';
import { fitSize } from './frames.js';
import { type Model, readModel, upgradeToOpset13 } from './onnx-graph.js';
import { planQuantization } from './qdq-plan.js';
import { type ActivationType, writeQdq } from './qdq-writer.js';
import { QuantizeError } from './quantize-error.js';
import { layerSensitivity, type LayerSensitivity } from './sensitivity.js';

export interface QuantizeOptions {
  /** The fp32 model's manifest (models/*.json form): input layout, family, labels, thresholds. */
  manifestPath: string;
  modelsDir?: string | undefined;
  calibration: readonly Frame[];
  /** Frames not used for calibration, on which INT8 must agree with fp32. */
  heldOut: readonly Frame[];
  /**
   * Default minmax, by the rule in docs/int8.md (best worst clip, ties to the cheaper method): on
   * the shared clips its worst clip beat percentile's, which also needs a second pass over the
   * frames; entropy (KL) lost on every clip.
   */
  method?: CalibrationMethod;
  /** uint8 (default; fastest on onnxruntime's x86 kernels) or int8 (symmetric, for TensorRT). */
  activations?: ActivationType;
  /** Kept share of values, percent, for `percentile` calibration. */
  percentile?: number;
  /** Refused below this mAP@0.5 or recall against fp32 (default 0.95). */
  bar?: number;
  /** Most sensitive nodes left in float: a number, or 'auto' (the fewest that meet the bar on the calibration frames). */
  keepFloat?: number | 'auto';
  /** Calibration frames used for the sensitivity pass and the 'auto' search (default 8). */
  sensitivityFrames?: number;
  /** Fewest calibration frames accepted (default 8). */
  minFrames?: number;
  threads?: number;
  /**
   * Refused unless INT8 is this many times faster than fp32 on the held-out frames (default 1:
   * not slower); 0 skips the timing. A slower INT8 model (YOLOX-Nano here) costs accuracy for nothing.
   */
  minSpeedup?: number;
  /** Timed runs of each model, alternating (default 5); one run is a pass over up to 8 held-out frames. */
  speedRuns?: number;
  progress?: (line: string) => void;
}

/** fp32 and INT8 inference timed alternately on the same held-out frames. */
export interface SpeedCheck {
  runs: number;
  frames: number;
  /** Median ms per frame of each model, and every run's figure, in the order they ran. */
  fp32Ms: number;
  int8Ms: number;
  fp32Runs: number[];
  int8Runs: number[];
  /** fp32Ms / int8Ms. */
  speedup: number;
  minSpeedup: number;
}

export interface QuantizeReport {
  method: CalibrationMethod;
  activations: ActivationType;
  calibrationFrames: number;
  quantizedNodes: number;
  totalNodes: number;
  /** The nodes left in float, most sensitive first. */
  keptFloat: LayerSensitivity[];
  /** The most sensitive nodes (up to 10), whether kept in float or not. */
  sensitivity: LayerSensitivity[];
  fidelity: Fidelity;
  bar: number;
  /** Absent when the timing was skipped (minSpeedup 0) or never reached (fidelity refused first). */
  speed?: SpeedCheck;
  fp32Bytes: number;
  int8Bytes: number;
  ms: { calibrate: number; sensitivity: number; search: number; fidelity: number; total: number };
  // ms.fidelity includes the speed check's timed runs.
}

export interface QuantizeResult { model: Uint8Array; report: QuantizeReport }

/** The INT8 model was made but is not fit for use; the figures are in `report`. */
export class Int8Refused extends QuantizeError {
  constructor(message: string, readonly report: QuantizeReport, readonly model: Uint8Array) { super(message); }
}

/** INT8 disagreed with fp32 on held-out frames. */
export class FidelityRefused extends Int8Refused {
  constructor(report: QuantizeReport, model: Uint8Array) {
    super(`INT8 model refused: on ${report.fidelity.frames} held-out frames (${report.fidelity.referenceBoxes} fp32 boxes) ` +
      `mAP@0.5 against fp32 is ${report.fidelity.map50.toFixed(3)} and recall ${report.fidelity.recall.toFixed(3)}, below the bar of ${report.bar}`, report, model);
  }
}

/** INT8 was not faster than fp32 by the asked factor. */
export class SpeedRefused extends Int8Refused {
  constructor(report: QuantizeReport & { speed: SpeedCheck }, model: Uint8Array) {
    const s = report.speed;
    super(`INT8 model refused: on ${s.frames} held-out frames, ${s.runs} alternating runs each, INT8 took ${s.int8Ms.toFixed(1)} ms a frame `
      + `and fp32 ${s.fp32Ms.toFixed(1)} ms (medians; ×${s.speedup.toFixed(3)}), below the required speed-up of ×${s.minSpeedup}`, report, model);
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * Alternates the two models run by run, so a neighbour's load falls on both alike; the median
 * drops the run a burst of load hit. One untimed warm-up each first (allocation, kernel choice).
 */
async function timeBoth(fp32: LocalDetector, int8: LocalDetector, frames: readonly Frame[], runs: number, minSpeedup: number): Promise<SpeedCheck> {
  const pass = async (d: LocalDetector): Promise<number> => {
    const t = performance.now();
    for (const f of frames) await d.detect(f, { scoreThreshold: LOW_SCORE });
    return (performance.now() - t) / frames.length;
  };
  await pass(fp32);
  await pass(int8);
  const fp32Runs: number[] = [];
  const int8Runs: number[] = [];
  for (let r = 0; r < runs; r++) {
    // Which goes first alternates too: the second of a pair may find caches warmer.
    if (r % 2 === 0) { fp32Runs.push(await pass(fp32)); int8Runs.push(await pass(int8)); }
    else { int8Runs.push(await pass(int8)); fp32Runs.push(await pass(fp32)); }
  }
  const fp32Ms = median(fp32Runs);
  const int8Ms = median(int8Runs);
  return { runs, frames: frames.length, fp32Ms, int8Ms, fp32Runs, int8Runs, speedup: fp32Ms / int8Ms, minSpeedup };
}

const AUTO_STEPS = [0, 1, 2, 4, 8, 16];
/** Fewer calibration frames give ranges that do not hold beyond them. */
export const MIN_CALIBRATION_FRAMES = 8;
export const LOW_SCORE = 0.05;
const SPEED_FRAMES = 8;

function toInput(pre: Preprocessor, frames: readonly Frame[], inputName: string, what: string, size: InputSize): CalibrationInput {
  return {
    name: inputName, dims: pre.dims,
    frames: frames.map((f, i) => {
      const target = { tensor: new Float32Array(pre.tensor.length), layoutKey: '' };
      try {
        pre.fill(f, target);
      } catch (err) {
        throw new QuantizeError(`${what} frame ${i} (${f.streamId} #${f.seq}): ${errorMessage(err)}`);
      }
      checkFit(f, i, what, size);
      return target.tensor;
    }),
  };
}

/**
 * A smaller frame fits a letterboxed input too, but the model never sees the scene that small:
 * such frames were scaled for another model's input (a stream running a smaller one). GStreamer
 * rounds the fit its own way, hence the 2 px of slack.
 */
function checkFit(f: Frame, i: number, what: string, size: InputSize): void {
  const fit = fitSize(f.sourceWidth, f.sourceHeight, size);
  if (Math.abs(f.width - fit.width) > 2 || Math.abs(f.height - fit.height) > 2) {
    throw new QuantizeError(`${what} frame ${i} (${f.streamId} #${f.seq}) is ${f.width}x${f.height}, but this model takes a `
      + `${f.sourceWidth}x${f.sourceHeight} camera frame scaled to ${fit.width}x${fit.height}: the frames were scaled for another model's input`);
  }
}

/** A detector on a model file that has no manifest of its own (the candidate INT8 model). */
export async function detectorFor(m: ResolvedManifest, bytes: Uint8Array, dir: string, name: string, threads: number): Promise<LocalDetector> {
  const file = path.join(dir, `${name}.onnx`);
  await writeFile(file, bytes);
  const manifestPath = path.join(dir, `${name}.json`);
  await writeFile(manifestPath, JSON.stringify({ ...m.manifest, file, labels: [...m.labels], sha256: await sha256File(file) }));
  return loadDetector({ name, manifestPath, providers: ['cpu'], threads }, silentLogger());
}

export async function detectAll(d: LocalDetector, frames: readonly Frame[], threshold: number): Promise<Detection[][]> {
  const out: Detection[][] = [];
  for (const f of frames) out.push(await d.detect(f, { scoreThreshold: threshold }));
  return out;
}

/**
 * Quantizes a detector to INT8 (QDQ) from calibration frames and checks it against fp32 on
 * held-out frames. Throws QuantizeError for bad input and FidelityRefused when INT8 falls below
 * the bar; nothing is written anywhere but a temporary folder, removed before returning.
 */
export async function quantizeModel(o: QuantizeOptions): Promise<QuantizeResult> {
  const t0 = performance.now();
  const say = o.progress ?? ((): void => undefined);
  const bar = o.bar ?? 0.95;
  const method = o.method ?? 'minmax';
  const threads = o.threads ?? 0;
  const acts = o.activations ?? 'uint8';
  const minFrames = o.minFrames ?? MIN_CALIBRATION_FRAMES;
  const m = await loadManifest(o.manifestPath, o.modelsDir);
  const where = `model ${m.modelPath}`;
  // The model first: a file that cannot be quantized at all is the more useful refusal.
  const model: Model = await readModel(m.modelPath);
  upgradeToOpset13(model, where);
  const plan = planQuantization(model, where);
  if (o.calibration.length < minFrames) {
    throw new QuantizeError(`${o.calibration.length} calibration frames for ${where}; at least ${minFrames} are needed for ranges that hold beyond them`);
  }
  if (o.heldOut.length === 0) throw new QuantizeError(`no held-out frames to check ${where}'s INT8 version against fp32`);
  const pre = new Preprocessor(m.manifest.input);
  const inputName = m.manifest.input.name ?? model.graph?.input[0]?.name ?? '';
  const size: InputSize = { width: m.manifest.input.width, height: m.manifest.input.height, letterbox: m.manifest.input.resize === 'letterbox' };
  const calib = toInput(pre, o.calibration, inputName, 'calibration', size);
  o.heldOut.forEach((f, i) => checkFit(f, i, 'held-out', size));

  say(`calibrating ${plan.tensors.length} activations on ${o.calibration.length} frames (${method})`);
  const ranges = await calibrate(model, plan.tensors, calib, method, o.percentile ?? 99.99, threads);
  const t1 = performance.now();

  const sens = { ...calib, frames: calib.frames.slice(0, o.sensitivityFrames ?? 8) };
  say(`sensitivity pass on ${sens.frames.length} frames`);
  const ranked = await layerSensitivity(model, writeQdq(model, plan, ranges, acts), plan, sens, threads);
  const t2 = performance.now();

  const dir = await mkdtemp(path.join(tmpdir(), 'vigil-quantize-'));
  try {
    const fp32 = await loadDetector({ name: 'fp32', manifestPath: o.manifestPath, modelsDir: o.modelsDir, providers: ['cpu'], threads }, silentLogger());
    const rule = m.manifest.thresholds.score;
    const sensFrames = o.calibration.slice(0, sens.frames.length);
    const build = (keep: number): { bytes: Uint8Array; kept: LayerSensitivity[] } => {
      const kept = ranked.slice(0, keep);
      const p = planQuantization(model, where, new Set(kept.map((k) => k.node)));
      return { bytes: writeQdq(model, p, ranges, acts), kept };
    };
    let chosen = build(typeof o.keepFloat === 'number' ? o.keepFloat : 0);
    if (o.keepFloat === undefined || o.keepFloat === 'auto') {
      const ref = await detectAll(fp32, sensFrames, LOW_SCORE);
      for (const keep of AUTO_STEPS.filter((k) => k <= ranked.length)) {
        const c = build(keep);
        const d = await detectorFor(m, c.bytes, dir, `try-${keep}`, threads);
        const f = compareDetections(ref, await detectAll(d, sensFrames, LOW_SCORE), rule);
        await d.close();
        say(`keeping ${keep} nodes in float: mAP@0.5 ${f.map50.toFixed(3)}, recall ${f.recall.toFixed(3)} on calibration frames`);
        chosen = c;
        if (f.map50 >= bar && f.recall >= bar) break;
      }
    }
    const t3 = performance.now();

    say(`fidelity check on ${o.heldOut.length} held-out frames`);
    const int8 = await detectorFor(m, chosen.bytes, dir, 'int8', threads);
    const fidelity = compareDetections(await detectAll(fp32, o.heldOut, LOW_SCORE), await detectAll(int8, o.heldOut, LOW_SCORE), rule);
    const passes = fidelity.map50 >= bar && fidelity.recall >= bar;
    const minSpeedup = o.minSpeedup ?? 1;
    let speed: SpeedCheck | undefined;
    if (passes && minSpeedup > 0) {
      const runs = o.speedRuns ?? 5;
      const frames = o.heldOut.slice(0, SPEED_FRAMES);
      say(`timing fp32 and INT8 alternately, ${runs} runs each on ${frames.length} held-out frames`);
      speed = await timeBoth(fp32, int8, frames, runs, minSpeedup);
    }
    await int8.close();
    await fp32.close();
    const t4 = performance.now();
    const report: QuantizeReport = {
      method, activations: acts, calibrationFrames: o.calibration.length, quantizedNodes: plan.nodes.size - chosen.kept.length,
      totalNodes: model.graph?.node.length ?? 0, keptFloat: chosen.kept, sensitivity: ranked.slice(0, 10), fidelity, bar,
      ...(speed !== undefined ? { speed } : {}), fp32Bytes: (await stat(m.modelPath)).size, int8Bytes: chosen.bytes.length,
      ms: { calibrate: t1 - t0, sensitivity: t2 - t1, search: t3 - t2, fidelity: t4 - t3, total: t4 - t0 },
    };
    if (!passes) throw new FidelityRefused(report, chosen.bytes);
    if (speed !== undefined && speed.speedup < speed.minSpeedup) throw new SpeedRefused({ ...report, speed }, chosen.bytes);
    return { model: chosen.bytes, report };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
