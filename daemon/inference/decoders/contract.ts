import type { Candidate } from '../nms.js';
import type { RawTensor } from '../types.js';

export interface OutputShape {
  name: string;
  dims: readonly number[];
}

export interface ModelGeometry {
  inputWidth: number;
  inputHeight: number;
  numClasses: number;
}

/**
 * Turns one inference's raw outputs into candidates (model-input pixels, before NMS), touching
 * only rows whose best class clears `scoreThreshold`.
 */
export type Decode = (outputs: Readonly<Record<string, RawTensor>>, scoreThreshold: number) => Candidate[];

/**
 * Works out, once per model, how to read its outputs: which tensor is which and which stride
 * each row belongs to, all derived from the shapes. Throws an Error saying what does not fit
 * when the shapes cannot belong to this family.
 */
export type PlanDecoder = (outputs: readonly OutputShape[], geometry: ModelGeometry) => Decode;

export function outputTensor(outputs: Readonly<Record<string, RawTensor>>, name: string): RawTensor {
  const t = outputs[name];
  if (t === undefined) throw new Error(`model output "${name}" is missing from the inference result`);
  return t;
}
