import { writeFile } from 'node:fs/promises';
import type { InputSize } from '../../inference/detector.js';
import { loadManifest } from '../../inference/manifest.js';
import type { Frame } from '../../video/frame.js';
import type { CalibrationMethod } from './calibrate.js';
import type { ActivationType } from './qdq-writer.js';
import { framesFromFolder, framesFromVideo } from './frames.js';
import { Int8Refused, quantizeModel, type QuantizeReport } from './quantize.js';
import { QuantizeError } from './quantize-error.js';

/** What `vigilctl models quantize` and `package-model quantize` both take. */
export interface QuantizeJob {
  manifest: string;
  modelsDir?: string | undefined;
  /** A folder of JPEG images (a publisher's calibration set). */
  images?: string | undefined;
  /** Video files, sampled every `step`-th frame. */
  videos: readonly string[];
  /** Frames already gathered (a device's own streams), one array per source, each in frame order. */
  sources?: readonly (readonly Frame[])[] | undefined;
  step: number;
  /** Most frames read in all (calibration and held-out). */
  frames: number;
  /** Share of the frames, the last ones in order, held out for the fidelity check. */
  holdout: number;
  method: CalibrationMethod;
  activations: ActivationType;
  bar: number;
  /** Refused unless INT8 is this many times faster than fp32 (0: not timed). */
  minSpeedup: number;
  keepFloat: number | 'auto';
  out: string;
  threads: number;
  progress?: (line: string) => void;
}

export interface QuantizeJobResult { report: QuantizeReport; out: string; peakRssBytes: number }

/**
 * Gathers frames, splits them (the last `holdout` share of each source held out: neighbouring video
 * frames are near copies, so held-out frames come from a later stretch, not between calibration
 * ones), quantizes, and writes the INT8 model and its report (`<out>.report.json`). A model that
 * fails the bar is not written; its report is, so the figures can be read.
 */
export async function runQuantizeJob(j: QuantizeJob): Promise<QuantizeJobResult> {
  const given = j.sources ?? [];
  if (j.images === undefined && j.videos.length === 0 && given.length === 0) {
    throw new QuantizeError('no calibration frames: give a folder of images, a video file or a stream of the running vigild');
  }
  if (!(j.holdout > 0 && j.holdout < 1)) throw new QuantizeError(`holdout must be between 0 and 1, got ${j.holdout}`);
  const m = await loadManifest(j.manifest, j.modelsDir);
  const size: InputSize = { width: m.manifest.input.width, height: m.manifest.input.height, letterbox: m.manifest.input.resize === 'letterbox' };
  const sources: (readonly Frame[])[] = [...given];
  const per = Math.max(1, Math.floor(j.frames / ((j.images === undefined ? 0 : 1) + j.videos.length + given.length)));
  if (j.images !== undefined) sources.push(await framesFromFolder(j.images, size, per));
  for (const v of j.videos) sources.push(await framesFromVideo(v, size, j.step, per));
  const calibration: Frame[] = [];
  const heldOut: Frame[] = [];
  for (const s of sources) {
    const cut = Math.max(1, Math.round(s.length * (1 - j.holdout)));
    calibration.push(...s.slice(0, cut));
    heldOut.push(...s.slice(cut));
  }
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 200);
  try {
    const { model, report } = await quantizeModel({
      manifestPath: j.manifest, modelsDir: j.modelsDir, calibration, heldOut, method: j.method, activations: j.activations, bar: j.bar,
      keepFloat: j.keepFloat, threads: j.threads, minSpeedup: j.minSpeedup, ...(j.progress ? { progress: j.progress } : {}),
    });
    await writeFile(j.out, model);
    await writeFile(`${j.out}.report.json`, JSON.stringify(report, null, 2));
    return { report, out: j.out, peakRssBytes: Math.max(peak, process.memoryUsage().rss) };
  } catch (err) {
    if (err instanceof Int8Refused) await writeFile(`${j.out}.report.json`, JSON.stringify(err.report, null, 2));
    throw err;
  } finally {
    clearInterval(timer);
  }
}

/** The report as a few lines for a terminal. */
export function reportText(r: QuantizeJobResult): string {
  const p = r.report;
  const f = p.fidelity;
  return [
    `${r.out}: INT8 (QDQ), ${(p.int8Bytes / 1e6).toFixed(2)} MB against ${(p.fp32Bytes / 1e6).toFixed(2)} MB fp32`,
    `calibration: ${p.calibrationFrames} frames, ${p.method}, ${p.activations} activations; ${p.quantizedNodes} of ${p.totalNodes} nodes quantized`,
    `kept in float (most sensitive): ${p.keptFloat.length === 0 ? 'none' : p.keptFloat.map((k) => `${k.node} (${k.op})`).join(', ')}`,
    `fidelity on ${f.frames} held-out frames (${f.referenceBoxes} fp32 boxes): mAP@0.5 ${f.map50.toFixed(3)}, recall ${f.recall.toFixed(3)} (bar ${p.bar})`,
    p.speed === undefined ? 'speed: not timed' : `speed on ${p.speed.frames} held-out frames, ${p.speed.runs} alternating runs: fp32 ${p.speed.fp32Ms.toFixed(1)} ms, `
      + `INT8 ${p.speed.int8Ms.toFixed(1)} ms a frame (medians): ×${p.speed.speedup.toFixed(2)} (required ×${p.speed.minSpeedup})`,
    `time ${(p.ms.total / 1000).toFixed(1)} s (calibration ${(p.ms.calibrate / 1000).toFixed(1)} s, sensitivity ${(p.ms.sensitivity / 1000).toFixed(1)} s), peak memory ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    `report: ${r.out}.report.json`,
  ].join('\n');
}
