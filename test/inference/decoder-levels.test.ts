import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadDetector } from '../../daemon/inference/detector.js';
import { gridFor } from '../../daemon/inference/decoders/grid.js';
import { stridesForRows } from '../../daemon/inference/decoders/yolox.js';
import { silentLogger } from '../../daemon/log.js';
import type { Frame } from '../../daemon/video/frame.js';
import { encodeModel, FLOAT, type OnnxTensor } from '../helpers/onnx-writer.js';
import { repoRoot, tempDir } from '../helpers/shared.js';

/**
 * Detectors of a known family open from their manifest alone, whatever their number of output
 * levels and whether the input divides by the largest stride. Each model here is generated: its
 * outputs are constant tensors of the family's shapes with one known box in the coarsest level,
 * plus 0 × the mean of the picture (so the graph reads its input). onnxruntime runs it, the
 * detector works the levels out from the shapes, and the box must come back where it was put.
 */

const SIZE = 416;
// 416 is not a multiple of 64: that level is 7×7, its last row and column reaching past the input.
const STRIDES = [8, 16, 32, 64];
const cells = (s: number): number => Math.ceil(SIZE / s) ** 2;

/** Writes a model whose named outputs are the given constants, and a manifest beside it. */
async function writeDetector(dir: string, base: string, outputs: { name: string; dims: number[]; values: Float32Array }[]): Promise<string> {
  const model = encodeModel({
    nodes: [
      { op: 'ReduceMean', inputs: ['images'], outputs: ['mean'], ints: { keepdims: 0 } },
      { op: 'Mul', inputs: ['mean', 'zero'], outputs: ['nothing'] },
      ...outputs.map((o) => ({ op: 'Add', inputs: [`${o.name}_const`, 'nothing'], outputs: [o.name] })),
    ],
    initializers: [
      { name: 'zero', type: FLOAT, dims: [], values: [0] },
      ...outputs.map((o): OnnxTensor => ({ name: `${o.name}_const`, type: FLOAT, dims: o.dims, values: Array.from(o.values) })),
    ],
    inputs: [{ name: 'images', type: FLOAT, dims: [1, 3, SIZE, SIZE] }],
    outputs: outputs.map((o) => ({ name: o.name, type: FLOAT, dims: o.dims })),
  });
  const file = path.join(dir, 'model.onnx');
  await writeFile(file, model);
  const manifest = JSON.parse(await readFile(path.join(repoRoot, 'models', base), 'utf8')) as Record<string, unknown> & { input: Record<string, unknown> };
  const manifestPath = path.join(dir, 'model.json');
  await writeFile(manifestPath, JSON.stringify({
    ...manifest, file: 'model.onnx', sha256: createHash('sha256').update(model).digest('hex'), labels: ['person'],
    input: { ...manifest.input, name: 'images', width: SIZE, height: SIZE },
  }));
  return manifestPath;
}

async function detectOnGrey(t: { after(fn: () => Promise<void> | void): void }, manifestPath: string): Promise<{ box: number[]; score: number }[]> {
  const detector = await loadDetector({ name: 'generated', manifestPath, providers: ['cpu'], threads: 1 }, silentLogger());
  t.after(() => detector.close());
  const frame: Frame = {
    streamId: 't', seq: 0, ts: 0, format: 'BGRx', width: SIZE, height: SIZE, sourceWidth: SIZE, sourceHeight: SIZE,
    data: Buffer.alloc(SIZE * SIZE * 4, 128),
  };
  return (await detector.detect(frame)).map((d) => ({ box: [...d.box], score: d.score }));
}

const near = (actual: readonly number[], expected: readonly number[], tol: number): boolean => actual.every((v, i) => Math.abs(v - expected[i]!) <= tol);

test('a stride that does not divide the input makes a grid rounded up: 416 at 64 is 7×7', () => {
  assert.deepEqual(gridFor(64, 416, 416), { cols: 7, rows: 7 });
  assert.deepEqual(gridFor(32, 416, 416), { cols: 13, rows: 13 });
  assert.deepEqual(stridesForRows(STRIDES.reduce((n, s) => n + cells(s), 0), 416, 416), STRIDES);
  assert.deepEqual(stridesForRows(60 * 34 + 30 * 17 + 15 * 9, 480, 270), [8, 16, 32], '270 at 16 and 32 rounds up too');
});

test('yolox with four levels at 416 (the last 7×7) opens from its manifest and finds its box', async (t) => {
  const dir = await tempDir(t);
  const K = 6; // tx, ty, tw, th, objectness, one class
  const rows = STRIDES.reduce((n, s) => n + cells(s), 0);
  const values = new Float32Array(rows * K);
  // Cell (col 3, row 5) of the stride-64 level: centre ((0.5 + 3)·64, (0.5 + 5)·64), 64 px square.
  const r = (rows - cells(64) + 5 * 7 + 3) * K;
  values.set([0.5, 0.5, 0, 0, 0.9, 1], r);
  const manifest = await writeDetector(dir, 'yolox-nano.json', [{ name: 'output', dims: [1, rows, K], values }]);
  const found = await detectOnGrey(t, manifest);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.ok(near(found[0]!.box, [192, 320, 256, 384], 0.01), JSON.stringify(found[0]));
  assert.ok(Math.abs(found[0]!.score - 0.9) < 1e-6);
});

test('nanodet with four levels at 416 (the last 7×7) opens from its manifest and finds its box', async (t) => {
  const dir = await tempDir(t);
  const bins = 8; // reg_max 7
  const outputs = STRIDES.flatMap((s) => {
    const n = cells(s);
    const cls = new Float32Array(n);
    const box = new Float32Array(n * 4 * bins);
    if (s === 64) {
      // Cell (col 3, row 5): centre (3·64 + 31.5, 5·64 + 31.5); each side's distribution all on bin 1, one stride.
      const i = 5 * 7 + 3;
      cls[i] = 0.8;
      for (let side = 0; side < 4; side++) box[(i * 4 + side) * bins + 1] = 40;
    }
    return [{ name: `cls_${s}`, dims: [1, n, 1], values: cls }, { name: `box_${s}`, dims: [1, n, 4 * bins], values: box }];
  });
  const manifest = await writeDetector(dir, 'nanodet-m.json', outputs);
  const found = await detectOnGrey(t, manifest);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.ok(near(found[0]!.box, [223.5 - 64, 351.5 - 64, 223.5 + 64, 351.5 + 64], 0.01), JSON.stringify(found[0]));
  assert.ok(Math.abs(found[0]!.score - 0.8) < 1e-6);
});
