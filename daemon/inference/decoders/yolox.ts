import type { Candidate } from '../nms.js';
import { outputTensor, type Decode, type ModelGeometry, type OutputShape } from './contract.js';
import { describeShape, gridFor, STRIDES, type Level } from './grid.js';

/**
 * YOLOX (exported without its decode step): one tensor [1, N, 5 + C], rows of
 * `tx, ty, tw, th, objectness, C class probabilities`, the levels concatenated from the finest
 * stride up, each row-major. Which strides those are is found from N and the input size.
 */

/** When two runs of strides both sum to N, prefer the one the YOLOX/YOLOv5 family uses. */
const USUAL_FIRST_STRIDE = 8;

/**
 * The consecutive strides whose grids together hold exactly `rows` cells, e.g. 8, 16, 32 for
 * 3549 rows at 416x416, or 8 to 64 for 3598 (the 64 grid rounded up to 7×7). Any number of levels.
 * Throws when no run fits or when the choice would be a guess.
 */
export function stridesForRows(rows: number, inputWidth: number, inputHeight: number): number[] {
  const matches: number[][] = [];
  for (let first = 0; first < STRIDES.length; first++) {
    let total = 0;
    const run: number[] = [];
    for (let i = first; i < STRIDES.length; i++) {
      const s = STRIDES[i] as number;
      const grid = gridFor(s, inputWidth, inputHeight);
      if (grid === undefined) break;
      total += grid.cols * grid.rows;
      run.push(s);
      if (total === rows) matches.push([...run]);
      if (total >= rows) break;
    }
  }
  if (matches.length === 1) return matches[0] as number[];
  const usual = matches.filter((m) => m[0] === USUAL_FIRST_STRIDE);
  if (usual.length === 1) return usual[0] as number[];
  if (matches.length === 0) {
    throw new Error(`no run of strides (powers of two) has grids totalling ${rows} cells over a ${inputWidth}x${inputHeight} input`);
  }
  throw new Error(`${rows} rows over a ${inputWidth}x${inputHeight} input fit several stride sets (${matches.map((m) => m.join('/')).join(', ')})`);
}

export function planYolox(outputs: readonly OutputShape[], g: ModelGeometry): Decode {
  const [o] = outputs;
  if (outputs.length !== 1 || o === undefined) {
    throw new Error(`yolox: expected one output [1, N, 5+C], found ${outputs.length}: ${outputs.map((x) => `"${x.name}" ${describeShape(x.dims)}`).join(', ')}`);
  }
  const [batch, n, k] = o.dims;
  if (o.dims.length !== 3 || batch !== 1 || n === undefined || k === undefined) {
    throw new Error(`yolox: output "${o.name}" has shape ${describeShape(o.dims)}, expected [1, N, 5+C]`);
  }
  if (k !== 5 + g.numClasses) {
    throw new Error(`yolox: output "${o.name}" rows hold ${k - 5} class scores, but the manifest has ${g.numClasses} labels`);
  }
  let start = 0;
  const levels: (Level & { start: number })[] = stridesForRows(n, g.inputWidth, g.inputHeight).map((stride) => {
    const grid = gridFor(stride, g.inputWidth, g.inputHeight) ?? { cols: 0, rows: 0 };
    const lv = { stride, ...grid, start };
    start += grid.cols * grid.rows;
    return lv;
  });

  const C = g.numClasses;
  return (out, threshold) => {
    const data = outputTensor(out, o.name).data;
    const found: Candidate[] = [];
    for (const lv of levels) {
      const count = lv.cols * lv.rows;
      for (let i = 0; i < count; i++) {
        const r = (lv.start + i) * k;
        // Class probabilities are at most 1, so objectness alone bounds the score: most rows stop here.
        const obj = data[r + 4] as number;
        if (obj < threshold) continue;
        let best = -1;
        let bestCls = -Infinity;
        for (let c = 0; c < C; c++) {
          const s = data[r + 5 + c] as number;
          if (s > bestCls) {
            bestCls = s;
            best = c;
          }
        }
        const score = obj * bestCls;
        if (score < threshold) continue;
        const cx = ((data[r] as number) + (i % lv.cols)) * lv.stride;
        const cy = ((data[r + 1] as number) + Math.floor(i / lv.cols)) * lv.stride;
        const hw = (Math.exp(data[r + 2] as number) * lv.stride) / 2;
        const hh = (Math.exp(data[r + 3] as number) * lv.stride) / 2;
        found.push({ classId: best, score, x1: cx - hw, y1: cy - hh, x2: cx + hw, y2: cy + hh });
      }
    }
    return found;
  };
}
