/** One feature-map level of a dense detector: a grid of cells, each `stride` input pixels wide. */
export interface Level {
  stride: number;
  cols: number;
  rows: number;
}

/**
 * The grid of `stride` over the input, rounded up where the stride does not divide it: each
 * stride-2 convolution (kernel 3, padding 1) of a backbone maps n cells to ⌈n/2⌉, so a 416 input
 * at stride 64 is a 7×7 grid whose last cells reach past the input. Undefined for a stride that
 * is not a positive integer.
 */
export function gridFor(stride: number, inputWidth: number, inputHeight: number): { cols: number; rows: number } | undefined {
  if (!Number.isInteger(stride) || stride < 1) return undefined;
  return { cols: Math.ceil(inputWidth / stride), rows: Math.ceil(inputHeight / stride) };
}

/** Candidate strides: powers of two, as every YOLO-style FPN halves resolution per level. */
export const STRIDES = [2, 4, 8, 16, 32, 64, 128, 256];

/** The smallest candidate stride whose grid over the input has exactly `cells` cells, or undefined. */
export function strideForCells(cells: number, inputWidth: number, inputHeight: number): number | undefined {
  return STRIDES.find((s) => {
    const g = gridFor(s, inputWidth, inputHeight);
    return g !== undefined && g.cols * g.rows === cells;
  });
}

export function describeShape(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}
