import type { Candidate } from '../nms.js';
import { outputTensor, type Decode, type ModelGeometry, type OutputShape } from './contract.js';
import { describeShape } from './grid.js';

/**
 * Ultralytics YOLOv8 / YOLO11 detection export: one tensor [1, 4 + C, N] — attributes first,
 * so attribute a of anchor i is at `a * N + i` — holding cx, cy, w, h in input pixels (already
 * decoded by the graph) and C class probabilities, with no objectness. Some exports transpose it
 * to [1, N, 4 + C]; both are read, and the attributes-first reading wins when N happens to equal 4 + C.
 */
export function planYolov8(outputs: readonly OutputShape[], g: ModelGeometry): Decode {
  const [o] = outputs;
  if (outputs.length !== 1 || o === undefined) {
    throw new Error(`yolov8: expected one output [1, 4+C, N], found ${outputs.length}: ${outputs.map((x) => `"${x.name}" ${describeShape(x.dims)}`).join(', ')}`);
  }
  const [batch, d1, d2] = o.dims;
  const attrs = 4 + g.numClasses;
  if (o.dims.length !== 3 || batch !== 1 || d1 === undefined || d2 === undefined || (d1 !== attrs && d2 !== attrs)) {
    throw new Error(`yolov8: output "${o.name}" has shape ${describeShape(o.dims)}, expected [1, ${attrs}, N] for ${g.numClasses} labels`);
  }
  const attributesFirst = d1 === attrs;
  const n = attributesFirst ? d2 : d1;
  // Element (anchor i, attribute a) lives at i * anchorStep + a * attrStep.
  const anchorStep = attributesFirst ? 1 : attrs;
  const attrStep = attributesFirst ? n : 1;
  const C = g.numClasses;

  return (out, threshold) => {
    const data = outputTensor(out, o.name).data;
    const found: Candidate[] = [];
    for (let i = 0; i < n; i++) {
      const base = i * anchorStep;
      let best = -1;
      let bestScore = -Infinity;
      for (let c = 0; c < C; c++) {
        const s = data[base + (4 + c) * attrStep] as number;
        if (s > bestScore) {
          bestScore = s;
          best = c;
        }
      }
      if (bestScore < threshold) continue;
      const cx = data[base] as number;
      const cy = data[base + attrStep] as number;
      const hw = (data[base + 2 * attrStep] as number) / 2;
      const hh = (data[base + 3 * attrStep] as number) / 2;
      found.push({ classId: best, score: bestScore, x1: cx - hw, y1: cy - hh, x2: cx + hw, y2: cy + hh });
    }
    return found;
  };
}
