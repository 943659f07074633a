import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Embedder } from '../../daemon/learning/embedder.js';
import { FeatureExtractor } from '../../daemon/learning/extractor.js';
import { CONTEXT_DIM, EMBEDDING_DIM, FEATURE_DIM, contextFeatures } from '../../daemon/learning/features.js';
import { LearningStore } from '../../daemon/learning/learning-store.js';
import { silentLogger } from '../../daemon/log.js';
import { gstFrame } from '../inference/gst-frame.js';
import { sharedPath, tempDir } from '../helpers/shared.js';

const cos = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);

test('OSNet embeds crops of the real photograph: the same person at two scales agrees, a dog and a person do not', async (t) => {
  const dir = await tempDir(t);
  const embedder = await Embedder.open(sharedPath('models', 'osnet-x0.25', 'model.onnx'));
  t.after(() => embedder.close());
  // The same photograph scaled by GStreamer to two analysis sizes; boxes are in source pixels.
  const small = await gstFrame(sharedPath('images', 'person.jpg'), dir, 'BGRx', 416);
  const large = await gstFrame(sharedPath('images', 'person.jpg'), dir, 'RGBx', 640);
  assert.equal(small.sourceWidth, 640);
  const person = [180, 103, 289, 386] as const;
  const dog = [65, 264, 206, 348] as const;
  const a = await embedder.embed(small, person);
  const b = await embedder.embed(large, person);
  const d = await embedder.embed(small, dog);
  assert.equal(a.length, EMBEDDING_DIM);
  assert.ok(Math.abs(cos(a, a) - 1) < 1e-5, 'L2-normalised');
  const same = cos(a, b);
  const other = cos(a, d);
  t.diagnostic(`cosine: person at 416 vs 640 (BGRx vs RGBx) ${same.toFixed(3)}, person vs dog ${other.toFixed(3)}`);
  assert.ok(same > 0.9, `same crop at two scales and channel orders: ${same}`);
  assert.ok(other < same - 0.2, `person vs dog ${other} is not clearly below ${same}`);

  // The extractor stores the whole vector, embedding then context, under the event id.
  const store = LearningStore.open(dir);
  t.after(() => store.close());
  const extractor = new FeatureExtractor(embedder, store, silentLogger());
  const ctx = { label: 'person', score: 0.5, box: person, sourceWidth: 640, sourceHeight: 424, rule: 'gate', ts: Date.UTC(2026, 0, 1, 6), utcOffsetMin: 0 };
  const vec = await extractor.onEventOpened('ev-1', small, ctx);
  assert.ok(vec);
  const stored = store.getFeatures('ev-1');
  assert.equal(stored?.length, FEATURE_DIM);
  assert.deepEqual([...stored.subarray(0, EMBEDDING_DIM)], [...a]);
  assert.deepEqual([...stored.subarray(EMBEDDING_DIM)], [...contextFeatures(ctx)]);
  // A box outside the picture cannot crash the extractor; it is clamped to the frame's edge.
  assert.ok(await extractor.onEventOpened('ev-2', small, { ...ctx, box: [700, 500, 900, 600] }));
  assert.equal(extractor.failed, 0);
});

test('context features: class, score, geometry, time of day and track are where the layout says', () => {
  const c = contextFeatures({ label: 'dog', score: 0.8, box: [0, 0, 960, 540], sourceWidth: 1920, sourceHeight: 1080, rule: 'r',
    ts: Date.UTC(2026, 0, 1, 18), utcOffsetMin: 0, trackAgeS: 0, speed: 0 });
  assert.equal(c.length, CONTEXT_DIM);
  assert.equal(c[6], 1, 'dog is class 6');
  assert.equal([...c.subarray(0, 8)].reduce((a, b) => a + b, 0), 1, 'one class only');
  assert.ok(Math.abs(c[8]! - 0.8) < 1e-6, 'score');
  assert.ok(Math.abs(c[9]! - -0.5) < 1e-6 && Math.abs(c[10]! - -0.5) < 1e-6, 'centre in the top-left quarter');
  assert.ok(Math.abs(c[11]! - 0.5) < 1e-6 && Math.abs(c[12]! - 0.5) < 1e-6, 'half the width and height');
  // 18:00 is three quarters of the day: sin −1, cos 0.
  assert.ok(Math.abs(c[19]! - -1) < 1e-6 && Math.abs(c[20]!) < 1e-6, `time of day ${c[19]}, ${c[20]}`);
  assert.equal(c[21], 1, 'tracked');
});
