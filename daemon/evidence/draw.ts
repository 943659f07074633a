import type { Frame } from '../video/frame.js';

export type Box = readonly [number, number, number, number];

/** Where each channel of a 32-bit frame format sits in its 4 bytes. */
const ORDER: Readonly<Record<Frame['format'], readonly [number, number, number]>> = {
  BGRx: [2, 1, 0], BGRA: [2, 1, 0], RGBx: [0, 1, 2], RGBA: [0, 1, 2],
};

/** RGBA (what jpeg-js encodes) from a frame's packed pixels, into a new buffer. */
export function toRgba(data: Uint8Array, width: number, height: number, format: Frame['format']): Buffer {
  const [r, g, b] = ORDER[format];
  const n = width * height;
  const out = Buffer.allocUnsafe(n * 4);
  for (let i = 0, o = 0; i < n; i++, o += 4) {
    out[o] = data[o + r]!;
    out[o + 1] = data[o + g]!;
    out[o + 2] = data[o + b]!;
    out[o + 3] = 255;
  }
  return out;
}

/** A box from source pixels to the analysis frame's pixels (the frame is the source scaled, no padding). */
export function toFrameBox(box: Box, frame: { width: number; height: number; sourceWidth: number; sourceHeight: number }): Box {
  const sx = frame.width / frame.sourceWidth;
  const sy = frame.height / frame.sourceHeight;
  return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy];
}

/**
 * Draws a rectangle outline `thickness` pixels wide into 32-bit pixels of `format` (RGBA unless
 * said), clipped to the image. Boxes are x1, y1, x2, y2 in the image's own pixels.
 */
export function drawBox(pixels: Uint8Array, width: number, height: number, box: Box, colour: readonly [number, number, number], thickness = 2,
  format: Frame['format'] = 'RGBA'): void {
  const [ri, gi, bi] = ORDER[format];
  const clampX = (v: number): number => Math.min(width - 1, Math.max(0, Math.round(v)));
  const clampY = (v: number): number => Math.min(height - 1, Math.max(0, Math.round(v)));
  const x1 = clampX(Math.min(box[0], box[2]));
  const x2 = clampX(Math.max(box[0], box[2]));
  const y1 = clampY(Math.min(box[1], box[3]));
  const y2 = clampY(Math.max(box[1], box[3]));
  const fill = (xa: number, ya: number, xb: number, yb: number): void => {
    for (let y = Math.max(0, ya); y <= Math.min(height - 1, yb); y++) {
      for (let x = Math.max(0, xa); x <= Math.min(width - 1, xb); x++) {
        const o = (y * width + x) * 4;
        pixels[o + ri] = colour[0];
        pixels[o + gi] = colour[1];
        pixels[o + bi] = colour[2];
      }
    }
  };
  const t = Math.max(1, thickness) - 1;
  fill(x1, y1, x2, y1 + t); // top
  fill(x1, y2 - t, x2, y2); // bottom
  fill(x1, y1, x1 + t, y2); // left
  fill(x2 - t, y1, x2, y2); // right
}
