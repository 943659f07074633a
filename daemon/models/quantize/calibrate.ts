import { InferenceSession, Tensor } from 'onnxruntime-node';
import { entropyThreshold, levelsFor } from './entropy.js';
import { cloneModel, DataType, encodeModel, type Graph, type Model, valueInfo } from './onnx-graph.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

export interface Range { min: number; max: number }

/** The model's preprocessed input, one frame per entry. */
export interface CalibrationInput {
  name: string;
  dims: readonly number[];
  frames: readonly Float32Array[];
}

/** Per tensor: 2048 float64 counts (16 KiB), whatever the number of frames; ~3 MiB for NanoDet-m. */
const BINS = 2048;

/**
 * A session of `model` that also returns `tensors` (intermediate activations) as outputs: how
 * activation ranges are measured without a second inference engine.
 */
export async function exposedSession(model: Model, tensors: readonly string[], threads: number): Promise<InferenceSession> {
  const copy = cloneModel(model);
  const graph = copy.graph as Graph;
  const outputs = new Set(graph.output.map((o) => o.name));
  graph.output = [...graph.output, ...tensors.filter((t) => !outputs.has(t)).map((t) => valueInfo(t, DataType.FLOAT))];
  return InferenceSession.create(encodeModel(copy), { graphOptimizationLevel: 'basic', logSeverityLevel: 3,
    ...(threads > 0 ? { intraOpNumThreads: threads } : {}) });
}

/** Runs one frame and hands each exposed tensor's values to `visit`. */
export async function runExposed(session: InferenceSession, input: CalibrationInput, frame: Float32Array,
  tensors: readonly string[], visit: (name: string, data: Float32Array) => void): Promise<void> {
  const out = await session.run({ [input.name]: new Tensor('float32', frame, input.dims) });
  for (const t of tensors) {
    const v = out[t];
    if (v !== undefined && v.data instanceof Float32Array) visit(t, v.data);
  }
}

/**
 * The range left after dropping the rarest `(100 - percentile) / 2` percent at each end of a
 * histogram of x over [min, max] (bin k centred on min + k·step).
 */
export function percentileRange(h: ArrayLike<number>, r: Range, percentile: number): Range {
  const bins = h.length;
  let total = 0;
  for (let k = 0; k < bins; k++) total += h[k] as number;
  const cut = total * (100 - percentile) / 200;
  let lo = 0;
  for (let acc = 0; lo < bins - 1 && acc + (h[lo] as number) <= cut; lo++) acc += h[lo] as number;
  let hi = bins - 1;
  for (let acc = 0; hi > lo && acc + (h[hi] as number) <= cut; hi--) acc += h[hi] as number;
  const step = (r.max - r.min) / (bins - 1);
  return { min: r.min + lo * step, max: r.min + hi * step };
}

/**
 * The range from a histogram of |x| over [0, max(|min|, |max|)] by the KL search (entropy.ts): the
 * threshold T clips both ends, [max(min, −T), min(max, T)].
 */
export function entropyRange(h: ArrayLike<number>, r: Range): Range {
  const top = Math.max(-r.min, r.max);
  const e = entropyThreshold(h, top / h.length, (t) => levelsFor(t, r.min));
  return { min: Math.max(r.min, -e.threshold), max: Math.min(r.max, e.threshold) };
}

/**
 * Activation ranges over the calibration frames. `minmax` keeps every value (what the frames
 * showed); `percentile` drops the rarest `(100 - percentile) / 2` percent at each end, measured on a
 * 2048-bin histogram in a second pass over the frames, so one outlier pixel does not stretch an
 * 8-bit grid over values that almost never occur; `entropy` clips where the quantized distribution
 * of |x| (a 2048-bin histogram, second pass) diverges least from the real one.
 */
export async function calibrate(model: Model, tensors: readonly string[], input: CalibrationInput,
  method: CalibrationMethod, percentile: number, threads: number): Promise<Map<string, Range>> {
  const session = await exposedSession(model, tensors, threads);
  try {
    const ranges = new Map<string, Range>();
    for (const frame of input.frames) {
      await runExposed(session, input, frame, tensors, (name, d) => {
        let lo = Infinity;
        let hi = -Infinity;
        for (let i = 0; i < d.length; i++) {
          const v = d[i] as number;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        const r = ranges.get(name);
        if (r === undefined) ranges.set(name, { min: lo, max: hi });
        else { r.min = Math.min(r.min, lo); r.max = Math.max(r.max, hi); }
      });
    }
    if (method === 'minmax') return ranges;
    const abs = method === 'entropy';
    const hists = new Map<string, Float64Array>();
    for (const frame of input.frames) {
      await runExposed(session, input, frame, tensors, (name, d) => {
        const r = ranges.get(name);
        if (r === undefined || r.max <= r.min) return;
        let h = hists.get(name);
        if (h === undefined) hists.set(name, h = new Float64Array(BINS));
        if (abs) {
          const top = Math.max(-r.min, r.max);
          const k = BINS / top;
          for (let i = 0; i < d.length; i++) h[Math.min(BINS - 1, Math.floor(Math.abs(d[i] as number) * k))]! += 1;
        } else {
          const k = (BINS - 1) / (r.max - r.min);
          for (let i = 0; i < d.length; i++) h[Math.round(((d[i] as number) - r.min) * k)]! += 1;
        }
      });
    }
    // The graph's input is the camera's pixels, a few hundred distinct values: its |x| histogram is a
    // comb, which the KL search reads as structure the grid destroys, and clipping pixels only loses
    // (the 8-bit grid over their full range is already as fine as the pixels). It keeps min/max.
    const pixels = new Set((model.graph?.input ?? []).map((i) => i.name));
    const clipped = new Map<string, Range>();
    for (const [name, r] of ranges) {
      const h = hists.get(name);
      clipped.set(name, h === undefined || (abs && pixels.has(name)) ? r : abs ? entropyRange(h, r) : percentileRange(h, r, percentile));
    }
    return clipped;
  } finally {
    await session.release();
  }
}
