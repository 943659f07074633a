import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planDecoder, type OutputShape } from '../../daemon/inference/decoders/index.js';
import { stridesForRows } from '../../daemon/inference/decoders/yolox.js';
import type { Candidate } from '../../daemon/inference/nms.js';
import type { RawTensor } from '../../daemon/inference/types.js';

function assertCandidate(actual: Candidate | undefined, expected: Candidate): void {
  assert.ok(actual, `missing candidate ${JSON.stringify(expected)}`);
  assert.equal(actual.classId, expected.classId);
  for (const k of ['score', 'x1', 'y1', 'x2', 'y2'] as const) {
    assert.ok(Math.abs(actual[k] - expected[k]) < 1e-4, `${k}: ${actual[k]} is not ${expected[k]}`);
  }
}

const shapes = (outputs: Record<string, RawTensor>): OutputShape[] =>
  Object.entries(outputs).map(([name, t]) => ({ name, dims: t.dims }));

void test('yolov8: [1, 4+C, N] attributes-first, boxes decoded from cx, cy, w, h', () => {
  const C = 3;
  const N = 6;
  const data = new Float32Array((4 + C) * N).fill(0.05);
  const put = (i: number, box: [number, number, number, number], cls: number, score: number): void => {
    box.forEach((v, a) => { data[a * N + i] = v; });
    data[(4 + cls) * N + i] = score;
  };
  put(1, [20, 30, 10, 20], 2, 0.9);
  put(4, [50, 10, 8, 4], 0, 0.6);
  put(5, [40, 40, 8, 8], 1, 0.4); // below the threshold
  const outputs = { output0: { dims: [1, 4 + C, N], data } };
  const decode = planDecoder('yolov8', shapes(outputs), { inputWidth: 64, inputHeight: 64, numClasses: C });
  const found = decode(outputs, 0.5).sort((a, b) => b.score - a.score);
  assert.equal(found.length, 2);
  assertCandidate(found[0], { classId: 2, score: 0.9, x1: 15, y1: 20, x2: 25, y2: 40 });
  assertCandidate(found[1], { classId: 0, score: 0.6, x1: 46, y1: 8, x2: 54, y2: 12 });

  // The same tensor transposed to [1, N, 4+C] decodes to the same boxes.
  const t = new Float32Array(data.length);
  for (let i = 0; i < N; i++) for (let a = 0; a < 4 + C; a++) t[i * (4 + C) + a] = data[a * N + i] ?? NaN;
  const transposed = { output0: { dims: [1, N, 4 + C], data: t } };
  const again = planDecoder('yolov8', shapes(transposed), { inputWidth: 64, inputHeight: 64, numClasses: C })(transposed, 0.5)
    .sort((a, b) => b.score - a.score);
  assertCandidate(again[0], { classId: 2, score: 0.9, x1: 15, y1: 20, x2: 25, y2: 40 });
  assertCandidate(again[1], { classId: 0, score: 0.6, x1: 46, y1: 8, x2: 54, y2: 12 });

  assert.throws(() => planDecoder('yolov8', shapes(outputs), { inputWidth: 64, inputHeight: 64, numClasses: 80 }), /expected \[1, 84, N\]/);
});

void test('yolox: strides are derived from the row count and the input size', () => {
  assert.deepEqual(stridesForRows(52 * 52 + 26 * 26 + 13 * 13, 416, 416), [8, 16, 32]);
  assert.deepEqual(stridesForRows(80 * 80 + 40 * 40 + 20 * 20, 640, 640), [8, 16, 32]);
  assert.deepEqual(stridesForRows(80 * 80 + 40 * 40 + 20 * 20 + 10 * 10, 640, 640), [8, 16, 32, 64]);
  assert.deepEqual(stridesForRows(80 * 48 + 40 * 24 + 20 * 12, 640, 384), [8, 16, 32]);
  assert.throws(() => stridesForRows(1000, 416, 416), /no run of strides/);
});

void test('yolox: objectness x class probability, grid offset and exp on w/h per stride', () => {
  const C = 2;
  const K = 5 + C;
  const rows = 8 * 8 + 4 * 4 + 2 * 2; // 64x64 input, strides 8/16/32
  const data = new Float32Array(rows * K);
  for (let r = 0; r < rows; r++) data[r * K + 4] = 0.01;
  // stride 16, cell row 2, col 1 → row 64 + 2*4 + 1
  data.set([0.5, 0.25, Math.log(2), 0, 0.9, 0.1, 0.8], (64 + 9) * K);
  // stride 32, cell row 1, col 0 → row 64 + 16 + 2; objectness high but class low: 0.9 * 0.2 < 0.3
  data.set([0, 0, 0, 0, 0.9, 0.2, 0.1], (80 + 2) * K);
  const outputs = { output: { dims: [1, rows, K], data } };
  const decode = planDecoder('yolox', shapes(outputs), { inputWidth: 64, inputHeight: 64, numClasses: C });
  const found = decode(outputs, 0.3);
  assert.equal(found.length, 1);
  // cx = (0.5 + 1) * 16 = 24, cy = (0.25 + 2) * 16 = 36, w = 2 * 16, h = 1 * 16
  assertCandidate(found[0], { classId: 1, score: 0.72, x1: 8, y1: 28, x2: 40, y2: 44 });

  assert.throws(() => planDecoder('yolox', shapes(outputs), { inputWidth: 64, inputHeight: 64, numClasses: 80 }), /2 class scores, but the manifest has 80 labels/);
});

void test('nanodet: tensors paired by N, stride from N, softmax expectation x stride from the cell centre', () => {
  const C = 2;
  const bins = 4; // reg_max = 3
  const cls8 = new Float32Array(16 * C).fill(0.02);
  const box8 = new Float32Array(16 * 4 * bins);
  const cls16 = new Float32Array(4 * C).fill(0.02);
  const box16 = new Float32Array(4 * 4 * bins);
  // stride 8, cell 5 = row 1, col 1: centre (8 + 3.5, 8 + 3.5)
  cls8[5 * C + 1] = 0.7;
  [2, 1, 0, 3].forEach((bin, side) => { box8[(5 * 4 + side) * bins + bin] = 50; });
  // stride 16, cell 2 = row 1, col 0: centre (7.5, 23.5); equal logits → expectation 1.5 bins
  cls16[2 * C] = 0.5;
  // Numeric names in a shuffled order, as the real export has them.
  const outputs: Record<string, RawTensor> = {
    '817': { dims: [1, 4, 4 * bins], data: box16 },
    '792': { dims: [1, 16, C], data: cls8 },
    '814': { dims: [1, 4, C], data: cls16 },
    '795': { dims: [1, 16, 4 * bins], data: box8 },
  };
  const decode = planDecoder('nanodet', shapes(outputs), { inputWidth: 32, inputHeight: 32, numClasses: C });
  const found = decode(outputs, 0.4).sort((a, b) => b.score - a.score);
  assert.equal(found.length, 2);
  // distances 2, 1, 0, 3 strides = 16, 8, 0, 24 px
  assertCandidate(found[0], { classId: 1, score: 0.7, x1: 11.5 - 16, y1: 11.5 - 8, x2: 11.5, y2: 11.5 + 24 });
  assertCandidate(found[1], { classId: 0, score: 0.5, x1: 7.5 - 24, y1: 23.5 - 24, x2: 7.5 + 24, y2: 23.5 + 24 });

  const odd = { ...outputs, '792': { dims: [1, 15, C], data: cls8 } };
  assert.throws(() => planDecoder('nanodet', shapes(odd), { inputWidth: 32, inputHeight: 32, numClasses: C }), /expected one class tensor/);
  const wrongSize = { a: { dims: [1, 15, C], data: cls8 }, b: { dims: [1, 15, 16], data: box8 } };
  assert.throws(() => planDecoder('nanodet', shapes(wrongSize), { inputWidth: 32, inputHeight: 32, numClasses: C }), /15 cells are no power-of-two stride's grid over the 32x32 input/);
});
