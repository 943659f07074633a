/** One feature-map level of a dense detector: a grid of cells, each `stride` input pixels wide. */
export interface Level {
  stride: number;
  cols: number;
  rows: number;
}

/** The grid of `stride` over the input, or undefined when the stride does not tile it exactly. */
export function gridFor(stride: number, inputWidth: number, inputHeight: number): { cols: number; rows: number } | undefined {
  if (!Number.isInteger(stride) || stride < 1) return undefined;
  if (inputWidth % stride !== 0 || inputHeight % stride !== 0) return undefined;
  return { cols: inputWidth / stride, rows: inputHeight / stride };
}

export function describeShape(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}
