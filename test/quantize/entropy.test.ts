import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadManifest } from '../../daemon/inference/manifest.js';
import { Preprocessor } from '../../daemon/inference/preprocess.js';
import { sha256File } from '../../daemon/inference/checksum.js';
import { calibrate, entropyRange, percentileRange } from '../../daemon/models/quantize/calibrate.js';
import { entropyThreshold, levelsFor } from '../../daemon/models/quantize/entropy.js';
import { framesFromVideo } from '../../daemon/models/quantize/frames.js';
import { readModel, upgradeToOpset13 } from '../../daemon/models/quantize/onnx-graph.js';
import { planQuantization } from '../../daemon/models/quantize/qdq-plan.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';
import { vigilctl } from '../helpers/vigilctl.js';

const BINS = 2048;
const TOTAL = 1e7;

/**
 * Histograms of a standard Gaussian (counts from its density, so no sampling noise decides the
 * result) with 100 outliers at each of ±15…20: 0.002 % of the values, fewer than percentile 99.99
 * drops at each end (0.005 %), so percentile clips them; the question is how much further.
 */
function gaussianWithOutliers(): { abs: Float64Array; signed: Float64Array; min: number; max: number } {
  const min = -20;
  const max = 20;
  const abs = new Float64Array(BINS);
  const signed = new Float64Array(BINS);
  const density = (x: number): number => Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI);
  // Counts at each bin's centre: summing finer slices would alias (bins of 9 or 10 slices).
  const wa = max / BINS;
  for (let k = 0; k < BINS; k++) abs[k] = Math.round(2 * TOTAL * wa * density((k + 0.5) * wa));
  const ws = (max - min) / (BINS - 1);
  for (let k = 0; k < BINS; k++) signed[k] = Math.round(TOTAL * ws * density(min + k * ws));
  for (let k = 0; k < 100; k++) {
    for (const x of [15 + k * 0.05, -15 - k * 0.05]) {
      abs[Math.min(BINS - 1, Math.floor((Math.abs(x) * BINS) / max))]! += 1;
      signed[Math.round(((x - min) * (BINS - 1)) / (max - min))]! += 1;
    }
  }
  return { abs, signed, min, max };
}

test('entropy on a Gaussian with outliers: clips them, but less deeply than percentile 99.99', () => {
  const { abs, signed, min, max } = gaussianWithOutliers();
  const p = percentileRange(signed, { min, max }, 99.99);
  const e = entropyRange(abs, { min, max });
  // percentile cuts at the Gaussian's 0.005 % quantile (3.89 σ); entropy keeps more of the tail,
  // because the 8-bit grid has levels to spare there, but stops far short of the outliers.
  assert.ok(p.max > 3.7 && p.max < 4.1, JSON.stringify(p));
  assert.ok(e.max > p.max && e.max < 8, `entropy ${JSON.stringify(e)}, percentile ${JSON.stringify(p)}, max ${max}`);
  assert.equal(e.min, -e.max, 'one threshold on |x| clips both signs');

  // A one-signed tensor (after ReLU) gets all 255 levels on [0, T], a symmetric one about 128: more
  // levels make the grid finer, so the search can afford a wider range.
  assert.equal(levelsFor(5, 0), 255);
  assert.equal(levelsFor(5, -20), 128);
  assert.equal(levelsFor(5, -1), 213);
  const width = max / BINS;
  assert.ok(entropyThreshold(abs, width, () => 255).threshold > entropyThreshold(abs, width, () => 128).threshold);
  // No values: no range to clip.
  assert.equal(entropyThreshold(new Float64Array(BINS), width, () => 128).threshold, 0);
});

test('entropy through the real quantize path: NanoDet-m ranges inside min/max; --min-speedup 100 refuses naming both timings', async (t) => {
  const manifestPath = path.join(repoRoot, 'models', 'nanodet-m.json');
  const modelsDir = sharedPath('models');
  const m = await loadManifest(manifestPath, modelsDir);
  const frames = await framesFromVideo(sharedPath('video', 'pedestrians.mp4'), { width: 416, height: 416, letterbox: true }, 50, 4);
  const pre = new Preprocessor(m.manifest.input);
  const input = { name: m.manifest.input.name ?? 'data', dims: pre.dims, frames: frames.map((f) => {
    const target = { tensor: new Float32Array(pre.tensor.length), layoutKey: '' };
    pre.fill(f, target);
    return target.tensor;
  }) };
  const model = await readModel(m.modelPath);
  upgradeToOpset13(model, m.modelPath);
  const tensors = planQuantization(model, m.modelPath).tensors;
  const minmax = await calibrate(model, tensors, input, 'minmax', 99.99, 2);
  const entropy = await calibrate(model, tensors, input, 'entropy', 99.99, 2);
  let narrower = 0;
  for (const [name, r] of minmax) {
    const e = entropy.get(name);
    assert.ok(e !== undefined && e.min >= r.min && e.max <= r.max && e.max > e.min, `${name}: entropy ${JSON.stringify(e)}, minmax ${JSON.stringify(r)}`);
    if (e.max - e.min < 0.9 * (r.max - r.min)) narrower++;
  }
  assert.ok(narrower > tensors.length / 4, `${narrower} of ${tensors.length} ranges clipped by entropy`);

  // The whole command with entropy calibration, and a speed-up no model reaches: refused with both
  // timings, no model written, the fp32 file untouched, the figures in the report.
  const dir = await tempDir(t);
  const out = path.join(dir, 'slow.onnx');
  const before = await sha256File(m.modelPath);
  const r = await vigilctl(['models', 'quantize', '--manifest', manifestPath, '--models-dir', modelsDir, '--video', sharedPath('video', 'pedestrians.mp4'),
    '--step', '25', '--frames', '16', '--holdout', '0.4', '--keep-float', '0', '--bar', '0', '--method', 'entropy', '--min-speedup', '100',
    '--threads', '2', '--out', out]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /INT8 model refused: on 6 held-out frames, 5 alternating runs each, INT8 took \d+\.\d ms a frame and fp32 \d+\.\d ms \(medians; ×\d+\.\d{3}\), below the required speed-up of ×100/);
  await assert.rejects(stat(out), { code: 'ENOENT' });
  assert.equal(await sha256File(m.modelPath), before);
  const report = JSON.parse(await readFile(`${out}.report.json`, 'utf8')) as { method: string; speed: { fp32Runs: number[]; int8Runs: number[]; speedup: number } };
  assert.equal(report.method, 'entropy');
  assert.equal(report.speed.fp32Runs.length, 5);
  assert.equal(report.speed.int8Runs.length, 5);
  assert.ok(report.speed.fp32Runs.every((x) => x > 0) && report.speed.int8Runs.every((x) => x > 0));
  assert.ok(report.speed.speedup > 0 && report.speed.speedup < 100);
});
