import { attr, DataType, type Graph, type Model, type Node, nodeName, toNumber } from './onnx-graph.js';
import { QuantizeError } from './quantize-error.js';

/** Operators with weights: their weights go to int8 per output channel. */
export const WEIGHTED = new Set(['Conv', 'MatMul', 'Gemm']);

/**
 * Operators onnxruntime (QLinear* kernels) and TensorRT run on int8 when every input comes from a
 * DequantizeLinear and the output goes to a QuantizeLinear; the value says which inputs are
 * activations (the others are shapes, scales, weights). -1: every input.
 */
const ACTIVATION_INPUTS: Readonly<Record<string, readonly number[] | -1>> = {
  Conv: [0], MatMul: [0], Gemm: [0], Add: -1, Mul: -1, Concat: -1,
  LeakyRelu: [0], Sigmoid: [0], Relu: [0], AveragePool: [0], GlobalAveragePool: [0],
  MaxPool: [0], Resize: [0], Reshape: [0], Transpose: [0], Split: [0], Slice: [0], Flatten: [0],
  Squeeze: [0], Unsqueeze: [0],
};

/**
 * Operators that only move or select values: their output keeps the input's scale, so onnxruntime
 * drops the Q/DQ around them and moves int8 values instead of requantizing.
 */
export const SAME_SCALE = new Set(['MaxPool', 'Reshape', 'Transpose', 'Split', 'Slice', 'Flatten', 'Squeeze', 'Unsqueeze', 'Resize']);

export interface QuantPlan {
  /** Indices of the nodes quantized, in graph order. */
  nodes: Set<number>;
  /** Activation tensors to measure (inputs and outputs of quantized nodes), in graph order. */
  tensors: string[];
}

export function activationInputs(n: Node): number[] {
  const spec = ACTIVATION_INPUTS[n.opType];
  if (spec === undefined) return [];
  return spec === -1 ? n.input.map((_, i) => i) : spec.filter((i) => i < n.input.length && n.input[i] !== '');
}

export function isQuantizable(n: Node): boolean {
  return (!n.domain || n.domain === 'ai.onnx') && ACTIVATION_INPUTS[n.opType] !== undefined;
}

/**
 * The nodes and tensors a QDQ model quantizes, leaving out `exclude` (node names). Constant
 * tensors (initializers, Constant outputs) are not activations: Add/Mul with a constant operand
 * stay in float rather than quantizing a constant with an activation's range.
 */
export function planQuantization(model: Model, where: string, exclude: ReadonlySet<string> = new Set()): QuantPlan {
  const graph = model.graph as Graph;
  const constants = new Set<string>(graph.initializer.map((t) => t.name));
  for (const n of graph.node) if (n.opType === 'Constant') n.output.forEach((o) => constants.add(o));
  const floats = floatTensors(graph);
  if (!graph.node.some((n) => WEIGHTED.has(n.opType))) {
    throw new QuantizeError(`${where} has no Conv, MatMul or Gemm node: nothing the INT8 quantizer can speed up`);
  }
  const tail = outputTail(graph);
  const nodes = new Set<number>();
  const tensors: string[] = [];
  const seen = new Set<string>();
  const add = (t: string): void => {
    if (t === '' || constants.has(t) || seen.has(t) || !floats.has(t)) return;
    seen.add(t);
    tensors.push(t);
  };
  graph.node.forEach((n, i) => {
    if (!isQuantizable(n) || exclude.has(nodeName(n, i)) || tail.has(i)) return;
    const acts = activationInputs(n);
    if (acts.length === 0 || acts.some((k) => constants.has(n.input[k] ?? '') || !floats.has(n.input[k] ?? ''))) return;
    if (WEIGHTED.has(n.opType) && !constants.has(n.input[1] ?? '')) return;
    nodes.add(i);
    for (const k of acts) add(n.input[k] ?? '');
    for (const o of n.output) add(o);
  });
  return { nodes, tensors };
}

/**
 * The float tensors of the graph, by forward propagation from its inputs and initializers: shape
 * arithmetic (Shape, Gather, Concat of int64) is in many exported detectors and must not be quantized.
 */
export function floatTensors(graph: Graph): Set<string> {
  const floats = new Set<string>();
  for (const i of graph.input) if (i.type?.tensorType?.elemType === DataType.FLOAT) floats.add(i.name);
  for (const t of graph.initializer) if (t.dataType === DataType.FLOAT) floats.add(t.name);
  for (const n of graph.node) {
    let isFloat: boolean;
    switch (n.opType) {
      case 'Shape': case 'Size': case 'NonZero': case 'ArgMax': case 'ArgMin': isFloat = false; break;
      case 'Constant': isFloat = attr(n, 'value')?.t?.dataType === DataType.FLOAT; break;
      case 'Cast': isFloat = toNumber(attr(n, 'to')?.i ?? 0) === DataType.FLOAT; break;
      default: isFloat = floats.has(n.input[0] ?? '');
    }
    if (isFloat) for (const o of n.output) floats.add(o);
  }
  return floats;
}

/**
 * The nodes between the last weighted layers and the graph outputs (activations, reshapes, the
 * concatenation of box and score maps). They stay in float: a detector's head often concatenates
 * box offsets (tens of pixels) with sigmoid scores (0..1) in one tensor, and one 8-bit grid over
 * both rounds every score to a few levels; noise-based sensitivity misses that, because the large
 * box values dominate the tensor's error energy.
 */
export function outputTail(graph: Graph): Set<number> {
  const producer = new Map<string, number>();
  graph.node.forEach((n, i) => n.output.forEach((o) => producer.set(o, i)));
  const tail = new Set<number>();
  const todo = graph.output.map((o) => o.name);
  for (let t = todo.pop(); t !== undefined; t = todo.pop()) {
    const i = producer.get(t);
    const n = i === undefined ? undefined : graph.node[i];
    if (i === undefined || n === undefined || tail.has(i) || WEIGHTED.has(n.opType)) continue;
    tail.add(i);
    todo.push(...n.input);
  }
  return tail;
}
