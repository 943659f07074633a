import type { ModelFamily } from '../manifest.js';
import type { Decode, ModelGeometry, OutputShape, PlanDecoder } from './contract.js';
import { planNanodet } from './nanodet.js';
import { planYolov8 } from './yolov8.js';
import { planYolox } from './yolox.js';

export type { Decode, ModelGeometry, OutputShape, PlanDecoder } from './contract.js';

// A Record over the family enum: adding a family to the manifest schema fails to compile until
// it has a decoder here.
const planners: Record<ModelFamily, PlanDecoder> = {
  nanodet: planNanodet,
  yolox: planYolox,
  yolov8: planYolov8,
};

export function planDecoder(family: ModelFamily, outputs: readonly OutputShape[], geometry: ModelGeometry): Decode {
  return planners[family](outputs, geometry);
}
