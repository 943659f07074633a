import type { Provider } from '../config/schema.js';

/** A box in source pixels: x1, y1, x2, y2. */
export type Box = [number, number, number, number];

export interface Detection {
  classId: number;
  label: string;
  score: number;
  box: Box;
}

/** How a frame was placed into the model input, so boxes can be mapped back to source pixels. */
export interface Placement {
  /** model-input pixels per source pixel, horizontally and vertically */
  scaleX: number;
  scaleY: number;
  /** offset of the image inside the model input, in model-input pixels */
  padX: number;
  padY: number;
  sourceWidth: number;
  sourceHeight: number;
}

/** Raw output tensors by name, as onnxruntime returns them. */
export interface RawTensor {
  dims: readonly number[];
  data: Float32Array;
}

export interface DetectorInfo {
  name: string;
  family: string;
  provider: Provider;
  inputWidth: number;
  inputHeight: number;
}
