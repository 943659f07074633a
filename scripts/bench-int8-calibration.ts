/**
 * Calibration methods side by side: NanoDet-m (or --model) quantized with min/max, percentile and
 * entropy on the first half of each clip (up to 21 frames, its own scene) and checked against fp32
 * on the second half, nothing kept in float (so only the calibration differs), not timed.
 *
 *   node dist/scripts/bench-int8-calibration.js [--model nanodet-m] [--methods minmax,percentile,entropy] [--clips pedestrians.mp4:10,one-by-one-person-detection.mp4:25]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadManifest } from '../daemon/inference/manifest.js';
import { Preprocessor } from '../daemon/inference/preprocess.js';
import { calibrate, CALIBRATION_METHODS, type CalibrationMethod, type Range } from '../daemon/models/quantize/calibrate.js';
import { framesFromVideo } from '../daemon/models/quantize/frames.js';
import { readModel, upgradeToOpset13 } from '../daemon/models/quantize/onnx-graph.js';
import { planQuantization } from '../daemon/models/quantize/qdq-plan.js';
import { quantizeModel } from '../daemon/models/quantize/quantize.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const shared = process.env['VIGIL_SHARED_DIR'] ?? path.resolve(root, '..', 'shared');
const { values: args } = parseArgs({ options: {
  model: { type: 'string', default: 'nanodet-m' },
  methods: { type: 'string', default: CALIBRATION_METHODS.join(',') },
  clips: { type: 'string', default: 'pedestrians.mp4:10,one-by-one-person-detection.mp4:25,car-detection.mp4:6' },
} });

const manifestPath = path.join(root, 'models', `${args.model}.json`);
const modelsDir = path.join(shared, 'models');
const m = await loadManifest(manifestPath, modelsDir);
const size = { width: m.manifest.input.width, height: m.manifest.input.height, letterbox: m.manifest.input.resize === 'letterbox' };
const model = await readModel(m.modelPath);
upgradeToOpset13(model, m.modelPath);
const plan = planQuantization(model, m.modelPath);
const methods = (args.methods ?? '').split(',').filter((k): k is CalibrationMethod => (CALIBRATION_METHODS as readonly string[]).includes(k));
const rows: string[] = [];
for (const spec of (args.clips ?? '').split(',').filter(Boolean)) {
  const [clip, step] = spec.split(':');
  const frames = await framesFromVideo(path.join(shared, 'video', clip ?? ''), size, Number(step ?? 10));
  const cut = Math.floor(frames.length / 2);
  const calibration = frames.slice(0, Math.min(cut, 21));
  const heldOut = frames.slice(cut);
  // Ranges of a few tensors under each method: how far each clips.
  const pre = new Preprocessor(m.manifest.input);
  const input = { name: m.manifest.input.name ?? model.graph?.input[0]?.name ?? '', dims: pre.dims, frames: calibration.map((f) => {
    const t = { tensor: new Float32Array(pre.tensor.length), layoutKey: '' };
    pre.fill(f, t);
    return t.tensor;
  }) };
  const byMethod = new Map<string, Map<string, Range>>();
  for (const method of methods) {
    const t = performance.now();
    byMethod.set(method, await calibrate(model, plan.tensors, input, method, 99.99, 0));
    rows.push(`${clip}: calibration ${method} ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const picks = [plan.tensors[0], plan.tensors[Math.floor(plan.tensors.length / 2)], plan.tensors[plan.tensors.length - 1]];
  for (const name of picks) {
    if (name === undefined) continue;
    rows.push(`${clip}: ${name}: ${methods.map((k) => {
      const r = byMethod.get(k)?.get(name);
      return `${k} [${r?.min.toFixed(3)}, ${r?.max.toFixed(3)}]`;
    }).join(', ')}`);
  }
  for (const method of methods) {
    const { report } = await quantizeModel({ manifestPath, modelsDir, calibration, heldOut, method, bar: 0, minSpeedup: 0, keepFloat: 0,
      sensitivityFrames: 2, threads: 0 });
    const f = report.fidelity;
    rows.push(`${clip}: ${method}: ${calibration.length} calibration frames, ${f.frames} held out (${f.referenceBoxes} fp32 boxes): `
      + `mAP@0.5 ${f.map50.toFixed(3)}, recall ${f.recall.toFixed(3)}`);
    console.error(rows[rows.length - 1]);
  }
}
console.log(rows.join('\n'));
