import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inputSpecSchema, type InputSpec } from '../../daemon/inference/manifest.js';
import { Preprocessor, toSourceBox, type InputTarget } from '../../daemon/inference/preprocess.js';
import type { Frame } from '../../daemon/video/frame.js';

const spec = (over: Record<string, unknown>): InputSpec =>
  inputSpecSchema.parse({ width: 8, height: 8, colour: 'bgr', mean: [10, 20, 30], std: [2, 4, 5], pad_value: 114, ...over });

/** A w x h frame whose pixel (x, y) has bytes [x*10+1, y*10+2, 200, 255]. */
function frame(w: number, h: number, format: Frame['format'], sourceWidth: number, sourceHeight: number): Frame {
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set([x * 10 + 1, y * 10 + 2, 200, 255], (y * w + x) * 4);
  }
  return { streamId: 's', seq: 1, ts: 0, format, width: w, height: h, data, sourceWidth, sourceHeight };
}

function near(actual: number, expected: number, msg?: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-5, `${msg ?? 'value'}: ${actual} is not ${expected}`);
}

const at = (t: Float32Array, c: number, x: number, y: number, W = 8, H = 8): number => t[c * W * H + y * W + x] ?? NaN;

void test('top-left letterbox: BGRx into a BGR model, normalised, padded with the pad value', () => {
  const pre = new Preprocessor(spec({}));
  const p = pre.fill(frame(4, 2, 'BGRx', 8, 4));
  assert.deepEqual(p, { scaleX: 0.5, scaleY: 0.5, padX: 0, padY: 0, sourceWidth: 8, sourceHeight: 4 });
  // pixel (3, 1): B = 31, G = 12, R = 200
  near(at(pre.tensor, 0, 3, 1), (31 - 10) / 2);
  near(at(pre.tensor, 1, 3, 1), (12 - 20) / 4);
  near(at(pre.tensor, 2, 3, 1), (200 - 30) / 5);
  // right of and below the image: padding
  near(at(pre.tensor, 0, 4, 0), (114 - 10) / 2);
  near(at(pre.tensor, 2, 0, 2), (114 - 30) / 5);
  near(at(pre.tensor, 1, 7, 7), (114 - 20) / 4);
});

void test('channel order follows the frame format and the model colour', () => {
  const rgbModel = new Preprocessor(spec({ colour: 'rgb' }));
  rgbModel.fill(frame(4, 2, 'BGRx', 8, 4));
  near(at(rgbModel.tensor, 0, 1, 0), (200 - 10) / 2, 'R first for an RGB model fed BGRx');
  near(at(rgbModel.tensor, 2, 1, 0), (11 - 30) / 5);

  const bgrModel = new Preprocessor(spec({}));
  bgrModel.fill(frame(4, 2, 'RGBA', 8, 4));
  // RGBA bytes: R = 11, G = 2, B = 200 at (1, 0)
  near(at(bgrModel.tensor, 0, 1, 0), (200 - 10) / 2, 'B first for a BGR model fed RGBA');
  near(at(bgrModel.tensor, 2, 1, 0), (11 - 30) / 5);
});

void test('scale instead of std, and NHWC layout', () => {
  const pre = new Preprocessor(inputSpecSchema.parse({ width: 8, height: 8, colour: 'rgb', layout: 'nhwc', scale: 1 / 255, pad_value: 0 }));
  assert.deepEqual(pre.dims, [1, 8, 8, 3]);
  pre.fill(frame(4, 2, 'RGBx', 8, 4));
  const i = (1 * 8 + 2) * 3; // pixel (2, 1)
  assert.deepEqual([...pre.tensor.subarray(i, i + 3)].map((v) => Math.round(v * 255)), [21, 12, 200]);
  assert.equal(pre.tensor[(7 * 8 + 7) * 3], 0);
});

void test('centred letterbox: offsets, and boxes map back to source pixels and are clipped', () => {
  const pre = new Preprocessor(spec({ letterbox_align: 'centre' }));
  const p = pre.fill(frame(4, 2, 'BGRx', 8, 4));
  assert.equal(p.padX, 2);
  assert.equal(p.padY, 3);
  near(at(pre.tensor, 0, 2, 3), (1 - 10) / 2, 'frame pixel (0, 0) lands at (2, 3)');
  near(at(pre.tensor, 0, 1, 3), (114 - 10) / 2);
  // model box (3, 4)-(5, 5) is frame (1, 1)-(3, 2), source (2, 2)-(6, 4)
  assert.deepEqual(toSourceBox(3, 4, 5, 5, p), [2, 2, 6, 4]);
  // partly in the padding: clipped to the source frame
  assert.deepEqual(toSourceBox(0, 0, 7, 8, p), [0, 0, 8, 4]);
});

void test('the tensor is reused, and padding comes back when the frame size changes', () => {
  const pre = new Preprocessor(spec({}));
  const buffer = pre.tensor;
  pre.fill(frame(8, 8, 'BGRx', 8, 8));
  near(at(pre.tensor, 0, 6, 6), (61 - 10) / 2);
  pre.fill(frame(4, 2, 'BGRx', 8, 4));
  assert.equal(pre.tensor, buffer);
  near(at(pre.tensor, 0, 6, 6), (114 - 10) / 2, 'old image pixels outside the new frame are padding again');
});

void test('each target tensor keeps its own padding: two targets filled in turn with frames of two sizes', () => {
  const pre = new Preprocessor(spec({}));
  const [a, b] = pre.newBatch(2).targets as [InputTarget, InputTarget];
  const big = frame(8, 8, 'BGRx', 8, 8);
  const small = frame(4, 2, 'BGRx', 8, 4);
  const fresh = (f: Frame): Float32Array => {
    const p = new Preprocessor(spec({}));
    p.fill(f);
    return p.tensor;
  };
  pre.fill(big, a);
  pre.fill(small, b);
  assert.deepEqual(a.tensor, fresh(big));
  assert.deepEqual(b.tensor, fresh(small));
  // Swapped: each target had the other size last, so each must write its padding again.
  pre.fill(small, a);
  pre.fill(big, b);
  assert.deepEqual(a.tensor, fresh(small));
  assert.deepEqual(b.tensor, fresh(big));
  assert.throws(() => pre.fill(big, { tensor: new Float32Array(10), layoutKey: '' }), /input tensor holds 10 values, expected 192/);
});

void test('frames of the wrong size are refused', () => {
  assert.throws(() => new Preprocessor(spec({})).fill(frame(9, 2, 'BGRx', 9, 2)), /larger than the model input 8x8/);
  const stretch = new Preprocessor(spec({ resize: 'stretch' }));
  assert.throws(() => stretch.fill(frame(4, 2, 'BGRx', 8, 4)), /exactly 8x8/);
  const p = stretch.fill(frame(8, 8, 'BGRx', 16, 32));
  assert.deepEqual([p.scaleX, p.scaleY, p.padX, p.padY], [0.5, 0.25, 0, 0]);
  const short: Frame = { ...frame(4, 2, 'BGRx', 8, 4), data: Buffer.alloc(10) };
  assert.throws(() => new Preprocessor(spec({})).fill(short), /10 bytes, expected 32/);
});
