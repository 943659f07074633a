import type { Range } from './calibrate.js';
import {
  attr, cloneModel, DataType, dimsOf, encodeModel, floatValues, type Graph, type Model, node, type Node, tensor,
  type TensorProto, toNumber, intAttr,
} from './onnx-graph.js';
import { activationInputs, type QuantPlan, SAME_SCALE, WEIGHTED } from './qdq-plan.js';

interface ActParams { scale: number; zp: number }

/**
 * How activations are stored: `uint8` (asymmetric, the default) is what onnxruntime's x86 int8
 * kernels run fastest (U8S8); `int8` (symmetric, zero point 0) is the form TensorRT's explicit
 * quantization accepts.
 */
export type ActivationType = 'uint8' | 'int8';

function activationParams(r: Range, type: ActivationType): ActParams {
  const lo = Math.min(0, r.min);
  const hi = Math.max(0, r.max);
  if (type === 'int8') {
    const m = Math.max(-lo, hi);
    return { scale: m > 0 ? m / 127 : 1, zp: 0 };
  }
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  return { scale, zp: Math.max(0, Math.min(255, Math.round(-lo / scale))) };
}

/**
 * Weights as int8, symmetric, one scale per output channel: channels of a conv differ in range by
 * orders of magnitude (depthwise ones especially), and one shared scale would flatten the small ones.
 */
function quantizeWeights(w: Float32Array, dims: readonly number[], axis: number): { q: Int8Array; scales: Float32Array } {
  const channels = dims[axis] as number;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const scales = new Float32Array(channels);
  for (let i = 0; i < w.length; i++) {
    const c = Math.floor(i / inner) % channels;
    scales[c] = Math.max(scales[c] as number, Math.abs(w[i] as number));
  }
  for (let c = 0; c < channels; c++) scales[c] = (scales[c] as number) > 0 ? (scales[c] as number) / 127 : 1;
  const q = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const c = Math.floor(i / inner) % channels;
    q[i] = Math.max(-127, Math.min(127, Math.round((w[i] as number) / (scales[c] as number))));
  }
  return { q, scales };
}

function weightAxis(n: Node): number {
  if (n.opType === 'Conv') return 0;
  if (n.opType === 'Gemm') return toNumber(attr(n, 'transB')?.i ?? 0) === 1 ? 0 : 1;
  return 1; // MatMul: [K, N]
}

/**
 * Writes the QDQ model: QuantizeLinear/DequantizeLinear pairs on every planned activation, int8
 * weights and int32 biases behind DequantizeLinear. The float graph is otherwise untouched, so any
 * runtime can run it (in float where it lacks int8 kernels) and onnxruntime or TensorRT fuse each
 * DQ -> op -> Q group into an int8 kernel. `model` must already be at opset 13.
 */
export function writeQdq(model: Model, plan: QuantPlan, ranges: ReadonlyMap<string, Range>, activations: ActivationType = 'uint8'): Uint8Array {
  const out = cloneModel(model);
  const graph = out.graph as Graph;
  const inits = new Map<string, TensorProto>(graph.initializer.map((t) => [t.name, t]));
  // Initializers listed as graph inputs (old exporters) are overridable, and onnxruntime fuses no
  // DequantizeLinear of a weight it cannot treat as constant.
  graph.input = graph.input.filter((i) => !inits.has(i.name));

  // Value-moving ops keep their input's grid, so their Q/DQ cancel out in the fused graph.
  const effective = new Map(ranges);
  graph.node.forEach((n, i) => {
    if (!plan.nodes.has(i) || !SAME_SCALE.has(n.opType)) return;
    const r = effective.get(n.input[0] ?? '');
    if (r !== undefined) for (const o of n.output) if (effective.has(o)) effective.set(o, r);
  });

  const params = new Map<string, ActParams>();
  for (const t of plan.tensors) {
    const r = effective.get(t);
    if (r !== undefined) params.set(t, activationParams(r, activations));
  }

  const newInits: TensorProto[] = [];
  const qdqOf = (t: string): Node[] => {
    const p = params.get(t);
    if (p === undefined) return [];
    newInits.push(tensor(`${t}__scale`, DataType.FLOAT, [], Float32Array.of(p.scale)),
      activations === 'int8' ? tensor(`${t}__zp`, DataType.INT8, [], Int8Array.of(0)) : tensor(`${t}__zp`, DataType.UINT8, [], Uint8Array.of(p.zp)));
    return [node('QuantizeLinear', [t, `${t}__scale`, `${t}__zp`], [`${t}__q`], `${t}__Q`),
      node('DequantizeLinear', [`${t}__q`, `${t}__scale`, `${t}__zp`], [`${t}__dq`], `${t}__DQ`)];
  };

  const weightScales = new Map<string, Float32Array>();
  const weightNodes: Node[] = [];
  const dqWeight = (name: string, n: Node): Float32Array | undefined => {
    const done = weightScales.get(name);
    if (done !== undefined) return done;
    const init = inits.get(name);
    if (init === undefined || init.dataType !== DataType.FLOAT) return undefined;
    const dims = dimsOf(init);
    const axis = weightAxis(n);
    const { q, scales } = quantizeWeights(floatValues(init), dims, axis);
    newInits.push(tensor(`${name}__q`, DataType.INT8, dims, q), tensor(`${name}__scale`, DataType.FLOAT, [scales.length], scales),
      tensor(`${name}__zp`, DataType.INT8, [scales.length], new Int8Array(scales.length)));
    weightNodes.push(node('DequantizeLinear', [`${name}__q`, `${name}__scale`, `${name}__zp`], [`${name}__dq`], `${name}__DQ`, [intAttr('axis', axis)]));
    weightScales.set(name, scales);
    return scales;
  };

  const nodes: Node[] = [];
  for (const i of graph.input) nodes.push(...qdqOf(i.name));
  graph.node.forEach((n, i) => {
    if (plan.nodes.has(i)) {
      const xName = n.input[0] ?? '';
      for (const k of activationInputs(n)) {
        const t = n.input[k] ?? '';
        if (params.has(t)) n.input[k] = `${t}__dq`;
      }
      if (WEIGHTED.has(n.opType)) {
        const w = n.input[1] ?? '';
        const scales = dqWeight(w, n);
        if (scales !== undefined) n.input[1] = `${w}__dq`;
        const bias = n.input[2];
        const x = params.get(xName);
        const b = bias === undefined || bias === '' ? undefined : inits.get(bias);
        if (scales !== undefined && x !== undefined && b !== undefined && bias !== undefined && dimsOf(b).length === 1) {
          const bf = floatValues(b);
          const bs = Float32Array.from(bf, (_, c) => x.scale * (scales[c] ?? scales[0] ?? 1));
          const bq = Int32Array.from(bf, (v, c) => Math.round(v / (bs[c] as number)));
          // Per node: a shared bias meets a different input scale at each of its users.
          const bn = `${bias}__${i}`;
          newInits.push(tensor(`${bn}_q`, DataType.INT32, [bq.length], bq), tensor(`${bn}_scale`, DataType.FLOAT, [bs.length], bs),
            tensor(`${bn}_zp`, DataType.INT32, [bq.length], new Int32Array(bq.length)));
          nodes.push(node('DequantizeLinear', [`${bn}_q`, `${bn}_scale`, `${bn}_zp`], [`${bias}__dq_${i}`], `${bias}__DQ_${i}`, [intAttr('axis', 0)]));
          n.input[2] = `${bias}__dq_${i}`;
        }
      }
    }
    nodes.push(n);
    for (const o of n.output) nodes.push(...qdqOf(o));
  });
  graph.node = [...weightNodes, ...nodes];

  // Float weights and biases now reached only through their int8 copies are dropped: that is the size gain.
  const used = new Set<string>(graph.node.flatMap((n) => n.input));
  graph.initializer = [...graph.initializer.filter((t) => used.has(t.name)), ...newInits];
  return encodeModel(out);
}

