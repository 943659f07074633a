import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { Frame } from '../video/frame.js';
import { EMBEDDING_DIM } from './features.js';

/**
 * Appearance embedding of an object crop with OSNet x0.25 (../shared/models/osnet-x0.25): a crop
 * of the analysis frame, resized to 128×256 RGB (bilinear), ImageNet-normalised, 512 values out,
 * L2-normalised. The crop is read straight from the frame buffer and never stored.
 */
const IN_W = 128;
const IN_H = 256;
const MEAN = [0.485, 0.456, 0.406] as const;
const STD = [0.229, 0.224, 0.225] as const;

export type CropFrame = Pick<Frame, 'format' | 'width' | 'height' | 'data' | 'sourceWidth' | 'sourceHeight'>;

/** Channel offsets of R, G, B within a 4-byte pixel. */
function rgbOffsets(format: Frame['format']): [number, number, number] {
  switch (format) {
    case 'BGRx': case 'BGRA': return [2, 1, 0];
    case 'RGBx': case 'RGBA': return [0, 1, 2];
  }
}

/** The model input for a box (source pixels) of the frame: NCHW float32, normalised. */
export function cropTensorData(frame: CropFrame, box: readonly [number, number, number, number]): Float32Array {
  const sx = frame.width / frame.sourceWidth;
  const sy = frame.height / frame.sourceHeight;
  const x1 = Math.max(0, Math.min(frame.width - 1, box[0] * sx));
  const y1 = Math.max(0, Math.min(frame.height - 1, box[1] * sy));
  const x2 = Math.max(x1 + 1, Math.min(frame.width, box[2] * sx));
  const y2 = Math.max(y1 + 1, Math.min(frame.height, box[3] * sy));
  const [ro, go, bo] = rgbOffsets(frame.format);
  const out = new Float32Array(3 * IN_W * IN_H);
  const plane = IN_W * IN_H;
  const d = frame.data;
  const stride = frame.width * 4;
  for (let y = 0; y < IN_H; y++) {
    const fy = Math.min(frame.height - 1, y1 + ((y + 0.5) * (y2 - y1)) / IN_H - 0.5);
    const y0 = Math.max(0, Math.floor(fy));
    const yb = Math.min(frame.height - 1, y0 + 1);
    const wy = Math.max(0, fy - y0);
    for (let x = 0; x < IN_W; x++) {
      const fx = Math.min(frame.width - 1, x1 + ((x + 0.5) * (x2 - x1)) / IN_W - 0.5);
      const x0 = Math.max(0, Math.floor(fx));
      const xb = Math.min(frame.width - 1, x0 + 1);
      const wx = Math.max(0, fx - x0);
      const p00 = y0 * stride + x0 * 4;
      const p01 = y0 * stride + xb * 4;
      const p10 = yb * stride + x0 * 4;
      const p11 = yb * stride + xb * 4;
      const o = y * IN_W + x;
      const chans = [ro, go, bo] as const;
      for (let c = 0; c < 3; c++) {
        const off = chans[c]!;
        const top = d[p00 + off]! * (1 - wx) + d[p01 + off]! * wx;
        const bottom = d[p10 + off]! * (1 - wx) + d[p11 + off]! * wx;
        const v = (top * (1 - wy) + bottom * wy) / 255;
        out[c * plane + o] = (v - MEAN[c]!) / STD[c]!;
      }
    }
  }
  return out;
}

export class Embedder {
  private constructor(private readonly session: InferenceSession, private readonly input: string, private readonly output: string) {}

  static async open(modelPath: string, threads = 1): Promise<Embedder> {
    const session = await InferenceSession.create(modelPath, { executionProviders: ['cpu'], intraOpNumThreads: threads });
    const input = session.inputNames[0];
    const output = session.outputNames[0];
    if (input === undefined || output === undefined) throw new Error(`${modelPath}: the model has no input or output`);
    return new Embedder(session, input, output);
  }

  async embed(frame: CropFrame, box: readonly [number, number, number, number]): Promise<Float32Array> {
    const data = cropTensorData(frame, box);
    const result = await this.session.run({ [this.input]: new Tensor('float32', data, [1, 3, IN_H, IN_W]) });
    const out = result[this.output];
    if (!out || out.data.length !== EMBEDDING_DIM) throw new Error(`embedding model gave ${out?.data.length ?? 0} values, expected ${EMBEDDING_DIM}`);
    const v = Float32Array.from(out.data as Float32Array);
    let n = 0;
    for (const x of v) n += x * x;
    n = Math.sqrt(n) || 1;
    for (let i = 0; i < v.length; i++) v[i]! /= n;
    return v;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
