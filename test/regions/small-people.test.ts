import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadDetector } from '../../daemon/inference/detector.js';
import { silentLogger } from '../../daemon/log.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';
import { analyseMosaic, newTally, referenceBoxes, tally } from './evaluate.js';
import { makeMosaic, plazaCornersSpec } from './material.js';

/**
 * Small people at 1080p, on real video through real parts: pedestrians.mp4 composed into a 1080p
 * mosaic at half size and encoded (material.ts), decoded by vigild's own pipeline, NanoDet-m in
 * onnxruntime. The reference is NanoDet-m on each tile's source frame at 0.77× the clip's own
 * resolution (a pseudo ground truth at 1.5× a region's resolution, not human labels).
 */
test('regions around motion find small people that the whole frame scaled to the model input misses', { timeout: 300_000 }, async (t) => {
  const dir = await tempDir(t);
  const spec = plazaCornersSpec(sharedPath('video', 'pedestrians.mp4'), 12);
  const mosaic = await makeMosaic(dir, spec);
  const detector = await loadDetector({
    name: 'nanodet-m', manifestPath: path.join(repoRoot, 'models', 'nanodet-m.json'), modelsDir: sharedPath('models'), providers: ['cpu'], threads: 1,
  }, silentLogger());
  t.after(() => detector.close());
  const whole = newTally();
  const regional = newTally();
  const pass = await analyseMosaic(detector, mosaic, 5, 4, spec.frames, async (r) => {
    const lax = await referenceBoxes(detector, mosaic, spec, r.index, 416 / 540, 0.25);
    const strict = lax.filter((d) => d.score >= 0.5 && d.box[3] - d.box[1] < 80).map((d) => d.box);
    tally(whole, r.whole, strict, lax.map((d) => d.box));
    tally(regional, r.regions, strict, lax.map((d) => d.box));
  });
  const refs = whole.refs.reduce((a, b) => a + b, 0);
  const recall = (x: typeof whole): number => x.found.reduce((a, b) => a + b, 0) / refs;
  const fps = (x: typeof whole): number => x.falsePositives.reduce((a, b) => a + b, 0);
  const figures = `reference ${refs} people under 80 px; recall whole ${recall(whole).toFixed(2)}, regions ${recall(regional).toFixed(2)}; `
    + `false positives whole ${fps(whole)}, regions ${fps(regional)} of ${regional.detections}; ${JSON.stringify(pass.stats)}`;
  t.diagnostic(figures);
  assert.ok(refs >= 60, `too few reference people to judge: ${figures}`);
  assert.ok(pass.stats.regionsRun >= spec.frames, `regions ran on too few frames: ${figures}`);
  assert.ok(recall(whole) < 0.15, `the whole frame found small people it should be too coarse for: ${figures}`);
  assert.ok(recall(regional) >= 0.45, `regions missed small people: ${figures}`);
  assert.ok(recall(regional) - recall(whole) >= 0.35, figures);
  assert.ok(fps(regional) <= 0.1 * regional.detections, `regions made too many false positives: ${figures}`);
});
