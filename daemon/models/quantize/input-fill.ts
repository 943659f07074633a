import type { InputSpec } from '../../inference/manifest.js';
import type { Frame } from '../../video/frame.js';
import { cloneModel, DataType, encodeModel, type Model, node, intAttr, intsAttr, tensor, valueInfo, onnx } from './onnx-graph.js';
import { QuantizeError } from './quantize-error.js';

export const PACKED_INPUT = 'frame_bgrx';

/**
 * The model with the input fill moved into the graph: it takes the frame as the video pipeline
 * delivers it (uint8, [1, H, W, 4], BGRx, already letterboxed to the input size) and does the
 * channel order, mean/std and layout itself (Cast, Gather, Sub, Mul, Transpose), so the main thread
 * copies bytes instead of converting every pixel to float. An experiment for issue 28: the
 * detector does not use it yet (see docs/int8.md).
 */
export function foldInputFill(model: Model, spec: InputSpec, where: string): Uint8Array {
  const out = cloneModel(model);
  const graph = out.graph;
  if (graph === null) throw new QuantizeError(`${where}: no graph`);
  const inits = new Set(graph.initializer.map((t) => t.name));
  const inputs = graph.input.filter((i) => !inits.has(i.name));
  const target = spec.name ?? (inputs.length === 1 ? inputs[0]?.name : undefined);
  if (target === undefined || !inputs.some((i) => i.name === target)) throw new QuantizeError(`${where}: cannot tell which input is the image`);
  const { width: W, height: H } = spec;
  const mean = spec.mean;
  const mul = spec.std ? spec.std.map((s) => 1 / s) : [1, 1, 1].map(() => spec.scale ?? 1);
  // BGRx bytes: channel 0 is blue.
  const order = spec.colour === 'bgr' ? [0, 1, 2] : [2, 1, 0];
  const p = '__fill';
  const nhwc = spec.layout === 'nhwc';
  // Mean and scale broadcast over the channel axis of the model's layout.
  const perChannel = nhwc ? [3] : [1, 3, 1, 1];
  graph.initializer = [...graph.initializer,
    tensor(`${p}_order`, DataType.INT64, [3], BigInt64Array.from(order.map(BigInt))),
    tensor(`${p}_mean`, DataType.FLOAT, perChannel, Float32Array.from(mean)),
    tensor(`${p}_mul`, DataType.FLOAT, perChannel, Float32Array.from(mul))];
  // Bytes are picked and moved while they are still bytes (a quarter of the float traffic);
  // only the last three steps touch floats.
  const fill = [
    node('Gather', [PACKED_INPUT, `${p}_order`], [`${p}_bgr`], `${p}_gather`, [intAttr('axis', 3)]),
    ...(nhwc ? [] : [node('Transpose', [`${p}_bgr`], [`${p}_nchw`], `${p}_transpose`, [intsAttr('perm', [0, 3, 1, 2])])]),
    node('Cast', [nhwc ? `${p}_bgr` : `${p}_nchw`], [`${p}_f`], `${p}_cast`, [intAttr('to', DataType.FLOAT)]),
    node('Sub', [`${p}_f`, `${p}_mean`], [`${p}_centred`], `${p}_sub`),
    node('Mul', [`${p}_centred`, `${p}_mul`], [target], `${p}_mul`),
  ];
  graph.node = [...fill, ...graph.node];
  const packed = valueInfo(PACKED_INPUT, DataType.UINT8);
  packed.type = onnx.TypeProto.create({ tensorType: { elemType: DataType.UINT8, shape: { dim: [1, H, W, 4].map((d) => ({ dimValue: d })) } } });
  graph.input = [packed, ...graph.input.filter((i) => i.name !== target)];
  return encodeModel(out);
}

/**
 * The packed input for a frame: its rows copied into a buffer of the input size at the top-left,
 * the rest left at the pad value (written once per buffer). What stays on the main thread.
 */
export function packFrame(frame: Frame, spec: InputSpec, into: Uint8Array): void {
  const { width: W } = spec;
  const row = frame.width * 4;
  for (let y = 0; y < frame.height; y++) into.set(frame.data.subarray(y * row, (y + 1) * row), y * W * 4);
}
