import { writeFile } from 'node:fs/promises';

/**
 * A minimal ONNX (protobuf) writer, enough for few-node test graphs that the real onnxruntime
 * runs: broken models (NaN outputs) that no exporter would produce on purpose. Field numbers are
 * those of onnx.proto3 (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto).
 */

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

const tag = (field: number, wire: number): number[] => varint((field << 3) | wire);
const int = (field: number, v: number): number[] => [...tag(field, 0), ...varint(v)];
const bytes = (field: number, b: Uint8Array | number[]): number[] => [...tag(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string): number[] => bytes(field, [...Buffer.from(s, 'utf8')]);
const msg = (field: number, body: number[]): number[] => bytes(field, body);

export const FLOAT = 1;
export const INT64 = 7;

export interface OnnxNode { op: string; inputs: string[]; outputs: string[]; ints?: Record<string, number>; intLists?: Record<string, number[]> }
export interface OnnxTensor { name: string; type: typeof FLOAT | typeof INT64; dims: number[]; values: number[] }
/** A graph input or output; a string dimension is symbolic (dynamic), e.g. 'batch'. */
export interface OnnxValue { name: string; type: typeof FLOAT | typeof INT64; dims: (number | string)[] }

function node(n: OnnxNode): number[] {
  const attrs = [
    ...Object.entries(n.ints ?? {}).map(([name, v]) => msg(5, [...str(1, name), ...int(3, v), ...int(20, 2 /* INT */)])),
    ...Object.entries(n.intLists ?? {}).map(([name, vs]) => msg(5, [...str(1, name), ...vs.flatMap((v) => int(8, v)), ...int(20, 7 /* INTS */)])),
  ];
  return [...n.inputs.flatMap((i) => str(1, i)), ...n.outputs.flatMap((o) => str(2, o)), ...str(4, n.op), ...attrs.flat()];
}

function tensor(t: OnnxTensor): number[] {
  const raw = t.type === FLOAT ? Buffer.from(new Float32Array(t.values).buffer) : Buffer.from(new BigInt64Array(t.values.map(BigInt)).buffer);
  return [...t.dims.flatMap((d) => int(1, d)), ...int(2, t.type), ...str(8, t.name), ...bytes(9, [...raw])];
}

function valueInfo(v: OnnxValue): number[] {
  const shape = v.dims.flatMap((d) => msg(1, typeof d === 'string' ? str(2, d) : int(1, d)));
  return [...str(1, v.name), ...msg(2, msg(1, [...int(1, v.type), ...msg(2, shape)]))];
}

export function encodeModel(g: { nodes: OnnxNode[]; initializers: OnnxTensor[]; inputs: OnnxValue[]; outputs: OnnxValue[]; opset?: number }): Buffer {
  const graph = [
    ...g.nodes.flatMap((n) => msg(1, node(n))),
    ...str(2, 'test-graph'),
    ...g.initializers.flatMap((t) => msg(5, tensor(t))),
    ...g.inputs.flatMap((v) => msg(11, valueInfo(v))),
    ...g.outputs.flatMap((v) => msg(12, valueInfo(v))),
  ];
  const model = [...int(1, 7), ...str(2, 'vigil-test'), ...msg(7, graph), ...msg(8, [...str(1, ''), ...int(2, g.opset ?? 13)])];
  return Buffer.from(model);
}

/** YOLOX's row count for an input size: cells of the stride 8, 16 and 32 grids. */
const yoloxRows = (size: number): number => [8, 16, 32].reduce((n, s) => n + (size / s) ** 2, 0);

/**
 * A "YOLOX" with the real contract (input `images` [1,3,S,S], output `output` [1,rows,85]) that
 * loads and passes the load-time checks. `nan`: sqrt of minus the mean pixel, so a black warm-up
 * frame gives -0 and every real picture NaN — the kind of fault that only shows once the model
 * serves a camera, which is what the probation watch is for. `zero`: finds nothing, ever.
 */
export async function writeYoloxLike(file: string, opts: { size?: number; output: 'nan' | 'zero' }): Promise<void> {
  const size = opts.size ?? 416;
  const model = encodeModel({
    nodes: [
      { op: 'ReduceMean', inputs: ['images'], outputs: ['m'], ints: { keepdims: 0 } },
      ...(opts.output === 'nan'
        ? [{ op: 'Neg', inputs: ['m'], outputs: ['n'] }, { op: 'Sqrt', inputs: ['n'], outputs: ['s'] }]
        : [{ op: 'Mul', inputs: ['m', 'zero'], outputs: ['s'] }]),
      { op: 'Expand', inputs: ['s', 'shape'], outputs: ['output'] },
    ],
    initializers: [
      { name: 'shape', type: INT64, dims: [3], values: [1, yoloxRows(size), 85] },
      ...(opts.output === 'zero' ? [{ name: 'zero', type: FLOAT, dims: [], values: [0] } as OnnxTensor] : []),
    ],
    inputs: [{ name: 'images', type: FLOAT, dims: [1, 3, size, size] }],
    outputs: [{ name: 'output', type: FLOAT, dims: [1, yoloxRows(size), 85] }],
  });
  await writeFile(file, model);
}

export const writeNanYolox = (file: string): Promise<void> => writeYoloxLike(file, { output: 'nan' });

/**
 * A YOLOX-family detector with a dynamic batch dimension (input `images` [batch,3,S,S], output
 * `output` [batch,rows,5+3]) whose outputs follow the picture: per grid cell of each stride, a
 * convolution averages the cell's pixels into each channel, then a sigmoid. Objectness and the
 * three class scores rise with the cell's blue, green and red, so a real photo gives a few boxes
 * that differ from photo to photo, and a batch must give every frame exactly its own.
 */
export async function writeBatchYolox(file: string, size = 64): Promise<void> {
  const C = 8;
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [{ name: 'rows', type: INT64, dims: [3], values: [0, C, -1] }];
  // Channel weights over (B, G, R) of the normalised (0..1) input, and a bias: tx, ty, tw, th, obj, 3 classes.
  const mix: [number, number, number, number][] = [
    [1, 0, 0, -0.5], [0, 1, 0, -0.5], [0, 0, 1, -0.5], [1, 1, 1, -1.5],
    [4, 4, 4, -5], [0, 0, 12, -5], [0, 12, 0, -5], [12, 0, 0, -5],
  ];
  for (const s of [8, 16, 32]) {
    const w: number[] = [];
    for (const [b, g, r] of mix) for (const k of [b, g, r]) for (let i = 0; i < s * s; i++) w.push(k / (s * s));
    initializers.push({ name: `w${s}`, type: FLOAT, dims: [C, 3, s, s], values: w });
    initializers.push({ name: `b${s}`, type: FLOAT, dims: [C], values: mix.map((m) => m[3]) });
    nodes.push({ op: 'Conv', inputs: ['images', `w${s}`, `b${s}`], outputs: [`c${s}`], intLists: { strides: [s, s], kernel_shape: [s, s] } });
    nodes.push({ op: 'Reshape', inputs: [`c${s}`, 'rows'], outputs: [`r${s}`] });
  }
  nodes.push({ op: 'Concat', inputs: ['r8', 'r16', 'r32'], outputs: ['cat'], ints: { axis: 2 } });
  nodes.push({ op: 'Transpose', inputs: ['cat'], outputs: ['t'], intLists: { perm: [0, 2, 1] } });
  nodes.push({ op: 'Sigmoid', inputs: ['t'], outputs: ['output'] });
  await writeFile(file, encodeModel({
    nodes, initializers,
    inputs: [{ name: 'images', type: FLOAT, dims: ['batch', 3, size, size] }],
    outputs: [{ name: 'output', type: FLOAT, dims: ['batch', yoloxRows(size), C] }],
  }));
}
