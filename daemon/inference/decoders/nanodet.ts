import type { Candidate } from '../nms.js';
import { outputTensor, type Decode, type ModelGeometry, type OutputShape } from './contract.js';
import { describeShape, gridFor, strideForCells, type Level } from './grid.js';

/**
 * NanoDet (GFL head): per level one class-score tensor [1, N, C] (already sigmoided) and one
 * box-distribution tensor [1, N, 4·(reg_max+1)] (left, top, right, bottom; softmax over the bins,
 * expectation in units of the stride). The exporter names outputs with bare numbers, so tensors
 * are paired by N and told apart by their last dimension; the stride of a level follows from N.
 */

interface NanodetLevel extends Level {
  cls: string;
  box: string;
}

export function planNanodet(outputs: readonly OutputShape[], g: ModelGeometry): Decode {
  const byCount = new Map<number, OutputShape[]>();
  for (const o of outputs) {
    const [batch, n, k] = o.dims;
    if (o.dims.length !== 3 || batch !== 1 || n === undefined || k === undefined) {
      throw new Error(`nanodet: output "${o.name}" has shape ${describeShape(o.dims)}, expected [1, N, C] or [1, N, 4*(reg_max+1)]`);
    }
    byCount.set(n, [...(byCount.get(n) ?? []), o]);
  }

  let bins = 0;
  const levels: NanodetLevel[] = [];
  for (const [n, pair] of byCount) {
    const cls = pair.filter((o) => o.dims[2] === g.numClasses);
    const box = pair.filter((o) => o.dims[2] !== g.numClasses);
    const [c] = cls;
    const [b] = box;
    if (pair.length !== 2 || c === undefined || b === undefined) {
      throw new Error(`nanodet: expected one class tensor [1, ${n}, ${g.numClasses}] and one box tensor [1, ${n}, 4*(reg_max+1)], ` +
        `found ${pair.map((o) => `"${o.name}" ${describeShape(o.dims)}`).join(', ')}`);
    }
    const k = b.dims[2] ?? 0;
    if (k % 4 !== 0 || k < 8) throw new Error(`nanodet: box tensor "${b.name}" has last dimension ${k}, not 4*(reg_max+1)`);
    if (bins !== 0 && bins !== k / 4) throw new Error(`nanodet: box tensors disagree on reg_max (${bins - 1} vs ${k / 4 - 1})`);
    bins = k / 4;
    const stride = strideForCells(n, g.inputWidth, g.inputHeight);
    const grid = stride === undefined ? undefined : gridFor(stride, g.inputWidth, g.inputHeight);
    if (stride === undefined || grid === undefined) {
      throw new Error(`nanodet: ${n} cells are no power-of-two stride's grid over the ${g.inputWidth}x${g.inputHeight} input (grids round up)`);
    }
    levels.push({ stride, ...grid, cls: c.name, box: b.name });
  }
  if (levels.length === 0) throw new Error('nanodet: the model has no outputs');
  levels.sort((a, b) => a.stride - b.stride);

  const C = g.numClasses;
  const dist = new Float64Array(4);
  return (out, threshold) => {
    const found: Candidate[] = [];
    for (const lv of levels) {
      const scores = outputTensor(out, lv.cls).data;
      const boxes = outputTensor(out, lv.box).data;
      const n = lv.cols * lv.rows;
      const half = (lv.stride - 1) / 2;
      for (let i = 0; i < n; i++) {
        const row = i * C;
        let best = -1;
        let bestScore = -Infinity;
        for (let c = 0; c < C; c++) {
          const s = scores[row + c] as number;
          if (s > bestScore) {
            bestScore = s;
            best = c;
          }
        }
        if (bestScore < threshold) continue;
        // Softmax over each side's bins, then the expected bin = distance in strides.
        for (let side = 0; side < 4; side++) {
          const base = (i * 4 + side) * bins;
          let max = -Infinity;
          for (let j = 0; j < bins; j++) max = Math.max(max, boxes[base + j] as number);
          let sum = 0;
          let acc = 0;
          for (let j = 0; j < bins; j++) {
            const e = Math.exp((boxes[base + j] as number) - max);
            sum += e;
            acc += e * j;
          }
          dist[side] = (acc / sum) * lv.stride;
        }
        const cx = (i % lv.cols) * lv.stride + half;
        const cy = Math.floor(i / lv.cols) * lv.stride + half;
        found.push({
          classId: best, score: bestScore,
          x1: cx - (dist[0] as number), y1: cy - (dist[1] as number),
          x2: cx + (dist[2] as number), y2: cy + (dist[3] as number),
        });
      }
    }
    return found;
  };
}
