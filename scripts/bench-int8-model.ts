import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../daemon/inference/checksum.js';
import { loadManifest } from '../daemon/inference/manifest.js';
import type { CalibrationMethod } from '../daemon/models/quantize/calibrate.js';
import { framesFromVideo } from '../daemon/models/quantize/frames.js';
import { Int8Refused, quantizeModel, type QuantizeReport } from '../daemon/models/quantize/quantize.js';
import { QuantizeError } from '../daemon/models/quantize/quantize-error.js';

export interface BenchInt8 {
  /** A manifest for the INT8 file (in `dir`), or null when the quantizer refused the model. */
  manifest: string | null;
  /** The refusal as the quantizer worded it (fidelity figures, or the node it cannot handle). */
  refused: string | null;
  /** Size, fidelity and time, one line. */
  summary: string;
  report: QuantizeReport | null;
}

/**
 * The INT8 version of a shipped detector for the frame-path bench, made the way a device makes
 * one: calibration on every 10th frame of the first half of the bench clip, the fidelity bar (0.95)
 * checked on the second half. The bench then runs the same scenarios on it as on fp32; a model
 * the quantizer refuses is reported as refused rather than benched, as a device would never run it.
 */
export async function quantizeForBench(o: { manifest: string; modelsDir: string; clip: string; dir: string; method: CalibrationMethod }): Promise<BenchInt8> {
  const m = await loadManifest(o.manifest, o.modelsDir);
  const size = { width: m.manifest.input.width, height: m.manifest.input.height, letterbox: m.manifest.input.resize === 'letterbox' };
  const frames = await framesFromVideo(o.clip, size, 10);
  const half = Math.floor(frames.length / 2);
  const name = path.basename(o.manifest, '.json');
  const t0 = performance.now();
  try {
    const { model, report } = await quantizeModel({ manifestPath: o.manifest, modelsDir: o.modelsDir, calibration: frames.slice(0, half),
      heldOut: frames.slice(half), method: o.method, threads: 0 });
    const file = path.join(o.dir, `${name}-int8.onnx`);
    await writeFile(file, model);
    const manifest = path.join(o.dir, `${name}-int8.json`);
    await writeFile(manifest, JSON.stringify({ ...m.manifest, file, labels: [...m.labels], sha256: await sha256File(file) }));
    return { manifest, refused: null, report, summary: summary(report, performance.now() - t0) };
  } catch (err) {
    if (err instanceof Int8Refused) return { manifest: null, refused: err.message, report: err.report, summary: summary(err.report, performance.now() - t0) };
    if (err instanceof QuantizeError) return { manifest: null, refused: err.message, report: null, summary: '' };
    throw err;
  }
}

function summary(r: QuantizeReport, ms: number): string {
  return `${(r.fp32Bytes / 1e6).toFixed(2)} → ${(r.int8Bytes / 1e6).toFixed(2)} MB, ${r.calibrationFrames} frames ${r.method}, `
    + `mAP@0.5 ${r.fidelity.map50.toFixed(3)} recall ${r.fidelity.recall.toFixed(3)} on ${r.fidelity.frames} held-out, ${(ms / 1000).toFixed(0)} s`;
}
