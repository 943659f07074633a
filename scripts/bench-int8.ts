/**
 * `npm run bench:int8`: fp32 against INT8 for each shipped detector, in one run on the same inputs.
 *
 *  - quantizes each model (calibration: the first half of the plaza clip, every 10th frame),
 *    timing it and sampling its peak memory;
 *  - fidelity (mAP@0.5 against fp32, recall of fp32 boxes at the rule threshold) on held-out frames
 *    of each shared clip (the plaza clip's second half, the two other clips) and on the photographs;
 *  - inference alone (session.run on a real frame, 1 and 2 threads), fp32 and INT8 in alternating
 *    rounds so that a neighbour's load lands on both; model sizes; the int8 kernels onnxruntime
 *    fused the QDQ graph into (counted in its optimized graph);
 *  - the input fill in JavaScript against the fill folded into the graph (uint8 BGRx input).
 *
 *   node dist/scripts/bench-int8.js [--models nanodet-m,yolox-nano] [--method percentile|minmax] [--runs N] [--own-scene] [--activations uint8|int8] [--out FILE]
 *
 * --own-scene also quantizes once per clip from that clip's first half and checks its second half:
 * calibration on the scene the model will watch, against calibration on another scene.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { loadDetector } from '../daemon/inference/detector.js';
import { loadManifest } from '../daemon/inference/manifest.js';
import { Preprocessor } from '../daemon/inference/preprocess.js';
import { silentLogger } from '../daemon/log.js';
import type { CalibrationMethod } from '../daemon/models/quantize/calibrate.js';
import { compareDetections, type Fidelity } from '../daemon/models/quantize/fidelity.js';
import { framesFromFolder, framesFromVideo } from '../daemon/models/quantize/frames.js';
import { foldInputFill, packFrame, PACKED_INPUT } from '../daemon/models/quantize/input-fill.js';
import { decodeModel, readModel } from '../daemon/models/quantize/onnx-graph.js';
import { detectAll, detectorFor, LOW_SCORE, quantizeModel, type QuantizeReport } from '../daemon/models/quantize/quantize.js';
import type { Frame } from '../daemon/video/frame.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const shared = process.env['VIGIL_SHARED_DIR'] ?? path.resolve(root, '..', 'shared');

const { values: args } = parseArgs({ options: {
  models: { type: 'string', default: 'nanodet-m,yolox-nano' },
  method: { type: 'string', default: 'minmax' },
  runs: { type: 'string', default: '20' },
  out: { type: 'string' },
  'own-scene': { type: 'boolean', default: false },
  activations: { type: 'string', default: 'uint8' },
} });

interface Speed { threads: number; fp32Ms: number; int8Ms: number; ratio: number }
interface ModelResult {
  model: string; fp32Bytes: number; int8Bytes: number; quantizeS: number; peakRssMiB: number; report: QuantizeReport;
  fidelity: Record<string, Fidelity>; speed: Speed[]; int8Kernels: Record<string, number>;
  /** Per clip, calibrated on its own first half (with --own-scene). */
  ownScene: Record<string, Fidelity>;
  fill: FillResult;
}

/** The input fill in JavaScript against the same fill folded into the graph (uint8 BGRx input). */
interface FillResult { jsFillMs: number; packMs: number; runFloatMs: number; runPackedMs: number; maxOutputDiff: number }

async function benchFill(modelPath: string, spec: Parameters<typeof foldInputFill>[1], frames: readonly Frame[], runs: number): Promise<FillResult> {
  const folded = foldInputFill(await readModel(modelPath), spec, modelPath);
  const pre = new Preprocessor(spec);
  const packed = new Uint8Array(spec.width * spec.height * 4).fill(spec.pad_value);
  const opts = { graphOptimizationLevel: 'all', intraOpNumThreads: 1, logSeverityLevel: 3 } as const;
  const a = await InferenceSession.create(modelPath, opts);
  const b = await InferenceSession.create(folded, opts);
  const input = spec.name ?? a.inputNames[0] ?? 'images';
  const js: number[] = [];
  const pk: number[] = [];
  const ra: number[] = [];
  const rb: number[] = [];
  let maxOutputDiff = 0;
  for (let i = 0; i < runs; i++) {
    const f = frames[i % frames.length] as Frame;
    let t = performance.now();
    pre.fill(f);
    js.push(performance.now() - t);
    t = performance.now();
    packFrame(f, spec, packed);
    pk.push(performance.now() - t);
    t = performance.now();
    const oa = await a.run({ [input]: new Tensor('float32', pre.tensor, pre.dims) });
    ra.push(performance.now() - t);
    t = performance.now();
    const ob = await b.run({ [PACKED_INPUT]: new Tensor('uint8', packed, [1, spec.height, spec.width, 4]) });
    rb.push(performance.now() - t);
    for (const [k, v] of Object.entries(oa)) {
      const w = ob[k]?.data as Float32Array;
      (v.data as Float32Array).forEach((x, j) => { maxOutputDiff = Math.max(maxOutputDiff, Math.abs(x - (w[j] as number))); });
    }
  }
  await a.release();
  await b.release();
  return { jsFillMs: median(js), packMs: median(pk), runFloatMs: median(ra), runPackedMs: median(rb), maxOutputDiff };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function timeRuns(s: InferenceSession, feeds: Record<string, Tensor>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await s.run(feeds);
    out.push(performance.now() - t);
  }
  return out;
}

async function speed(fp32: string, int8: Uint8Array, input: string, tensor: Tensor, threads: number, runs: number, optimized: string): Promise<Speed> {
  const opts = { graphOptimizationLevel: 'all', intraOpNumThreads: threads, logSeverityLevel: 3 } as const;
  const a = await InferenceSession.create(fp32, opts);
  const b = await InferenceSession.create(int8, { ...opts, optimizedModelFilePath: optimized });
  const feeds = { [input]: tensor };
  await timeRuns(a, feeds, 3);
  await timeRuns(b, feeds, 3);
  const fa: number[] = [];
  const fb: number[] = [];
  for (let r = 0; r < 4; r++) {
    fa.push(...await timeRuns(a, feeds, Math.ceil(runs / 4)));
    fb.push(...await timeRuns(b, feeds, Math.ceil(runs / 4)));
  }
  await a.release();
  await b.release();
  const fp32Ms = median(fa);
  const int8Ms = median(fb);
  return { threads, fp32Ms, int8Ms, ratio: fp32Ms / int8Ms };
}

async function benchModel(name: string, method: CalibrationMethod, runs: number, dir: string): Promise<ModelResult> {
  const manifestPath = path.join(root, 'models', `${name}.json`);
  const modelsDir = path.join(shared, 'models');
  const m = await loadManifest(manifestPath, modelsDir);
  const size = { width: m.manifest.input.width, height: m.manifest.input.height, letterbox: m.manifest.input.resize === 'letterbox' };
  const plaza = await framesFromVideo(path.join(shared, 'video', 'pedestrians.mp4'), size, 10);
  const half = Math.floor(plaza.length / 2);
  const heldOut: Record<string, Frame[]> = {
    'pedestrians.mp4 (2nd half)': plaza.slice(half),
    'one-by-one-person-detection.mp4': await framesFromVideo(path.join(shared, 'video', 'one-by-one-person-detection.mp4'), size, 50),
    'car-detection.mp4': await framesFromVideo(path.join(shared, 'video', 'car-detection.mp4'), size, 15),
    'images/': await framesFromFolder(path.join(shared, 'images'), size),
  };

  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 100);
  const t0 = performance.now();
  const { model, report } = await quantizeModel({ manifestPath, modelsDir, calibration: plaza.slice(0, half),
    heldOut: plaza.slice(half), method, activations: args.activations === 'int8' ? 'int8' : 'uint8', bar: 0, minSpeedup: 0, threads: 0 });
  const quantizeS = (performance.now() - t0) / 1000;
  clearInterval(sampler);

  const fp32 = await loadDetector({ name: 'fp32', manifestPath, modelsDir, providers: ['cpu'], threads: 0 }, silentLogger());
  const int8 = await detectorFor(m, model, dir, `${name}-int8`, 0);
  const fidelity: Record<string, Fidelity> = {};
  for (const [src, frames] of Object.entries(heldOut)) {
    fidelity[src] = compareDetections(await detectAll(fp32, frames, LOW_SCORE), await detectAll(int8, frames, LOW_SCORE), m.manifest.thresholds.score);
  }
  await fp32.close();
  await int8.close();

  const ownScene: Record<string, Fidelity> = {};
  if (args['own-scene']) {
    for (const [clip, step] of [['one-by-one-person-detection.mp4', 25], ['car-detection.mp4', 6]] as const) {
      const frames = await framesFromVideo(path.join(shared, 'video', clip), size, step);
      const cut = Math.floor(frames.length / 2);
      const own = await quantizeModel({ manifestPath, modelsDir, calibration: frames.slice(0, Math.min(cut, 21)), heldOut: frames.slice(cut),
        method, bar: 0, minSpeedup: 0, threads: 0 });
      ownScene[`${clip} (2nd half)`] = own.report.fidelity;
    }
  }

  const fill = await benchFill(m.modelPath, m.manifest.input, plaza, runs * 2);
  const pre = new Preprocessor(m.manifest.input);
  pre.fill(plaza[0] as Frame);
  const tensor = new Tensor('float32', pre.tensor, pre.dims);
  const optimized = path.join(dir, `${name}-int8-optimized.onnx`);
  const speeds: Speed[] = [];
  for (const threads of [1, Math.min(2, cpus().length)]) speeds.push(await speed(m.modelPath, model, m.manifest.input.name ?? 'images', tensor, threads, runs, optimized));
  const int8Kernels: Record<string, number> = {};
  for (const n of decodeModel(readFileSync(optimized)).graph?.node ?? []) {
    if (/QLinear|Integer|QuantizeLinear|DequantizeLinear/.test(n.opType)) int8Kernels[n.opType] = (int8Kernels[n.opType] ?? 0) + 1;
  }
  return { model: name, fp32Bytes: (await stat(m.modelPath)).size, int8Bytes: model.length, quantizeS, peakRssMiB: peak / 2 ** 20,
    report, fidelity, speed: speeds, int8Kernels, ownScene, fill };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vigil-bench-int8-'));
  const results: ModelResult[] = [];
  try {
    for (const name of (args.models ?? '').split(',').filter(Boolean)) {
      process.stderr.write(`${name}: quantizing and measuring...\n`);
      results.push(await benchModel(name, (args.method ?? 'minmax') as CalibrationMethod, Number(args.runs), dir));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const lines: string[] = ['', `INT8 against fp32 (${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores; calibration ${args.method}, ${args.activations} activations)`];
  for (const r of results) {
    lines.push('', `${r.model}: ${(r.fp32Bytes / 1e6).toFixed(2)} MB fp32 -> ${(r.int8Bytes / 1e6).toFixed(2)} MB INT8; quantized in ${r.quantizeS.toFixed(1)} s ` +
      `(${r.report.calibrationFrames} frames), peak RSS ${r.peakRssMiB.toFixed(0)} MiB; ${r.report.quantizedNodes}/${r.report.totalNodes} nodes quantized, ` +
      `kept in float: ${r.report.keptFloat.map((k) => k.node).join(', ') || 'none'}`);
    for (const s of r.speed) {
      lines.push(`  ${s.threads} thread(s): fp32 ${s.fp32Ms.toFixed(1)} ms (${(1000 / s.fp32Ms).toFixed(1)} fps), INT8 ${s.int8Ms.toFixed(1)} ms ` +
        `(${(1000 / s.int8Ms).toFixed(1)} fps): x${s.ratio.toFixed(2)}; streams at 5 fps from inference alone: ${Math.floor(1000 / s.fp32Ms / 5)} -> ${Math.floor(1000 / s.int8Ms / 5)}`);
    }
    lines.push(`  input fill (fp32 model, 1 thread): JS fill ${r.fill.jsFillMs.toFixed(2)} ms + run ${r.fill.runFloatMs.toFixed(1)} ms; ` +
      `fill in the graph: byte copy ${r.fill.packMs.toFixed(2)} ms + run ${r.fill.runPackedMs.toFixed(1)} ms; outputs differ by at most ${r.fill.maxOutputDiff.toExponential(1)}`);
    lines.push(`  int8 kernels after onnxruntime's fusion: ${Object.entries(r.int8Kernels).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    for (const [src, f] of Object.entries(r.fidelity)) {
      lines.push(`  ${src.padEnd(34)} ${String(f.frames).padStart(3)} frames, ${String(f.referenceBoxes).padStart(4)} fp32 boxes: mAP@0.5 ${f.map50.toFixed(3)}, recall ${f.recall.toFixed(3)}`);
    }
    for (const [src, f] of Object.entries(r.ownScene)) {
      lines.push(`  own-scene calibration, ${src}: ${f.frames} frames, ${f.referenceBoxes} fp32 boxes: mAP@0.5 ${f.map50.toFixed(3)}, recall ${f.recall.toFixed(3)}`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.out) await writeFile(args.out, JSON.stringify(results, null, 2));
}

await main();
