import { i420Layout, type I420Layout } from '../video/full-frame.js';
import { glyph, GLYPH_HEIGHT, GLYPH_WIDTH } from './font5x7.js';

export type Rgb = readonly [number, number, number];
export type Point = readonly [number, number];

/**
 * Drawing into a planar I420 frame in place: rectangles, thick polylines and 5×7 text. Chroma is
 * subsampled 2×2, so shapes are drawn on even coordinates with even sizes where it matters (an
 * outline 1 pixel wide would tint its neighbours with half its colour).
 */
export class I420Canvas {
  readonly layout: I420Layout;
  private readonly yuv: Map<string, [number, number, number]> = new Map();

  constructor(readonly data: Uint8Array, readonly width: number, readonly height: number) {
    this.layout = i420Layout(width, height);
    if (data.length < this.layout.size) throw new Error(`an I420 ${width}x${height} frame needs ${this.layout.size} bytes, got ${data.length}`);
  }

  /** Fills x1..x2 × y1..y2 (inclusive, clipped). */
  fillRect(x1: number, y1: number, x2: number, y2: number, colour: Rgb): void {
    const xa = Math.max(0, Math.round(Math.min(x1, x2)));
    const xb = Math.min(this.width - 1, Math.round(Math.max(x1, x2)));
    const ya = Math.max(0, Math.round(Math.min(y1, y2)));
    const yb = Math.min(this.height - 1, Math.round(Math.max(y1, y2)));
    if (xa > xb || ya > yb) return;
    const [Y, U, V] = this.toYuv(colour);
    const { yStride, uvStride, uOffset, vOffset } = this.layout;
    for (let y = ya; y <= yb; y++) this.data.fill(Y, y * yStride + xa, y * yStride + xb + 1);
    for (let cy = ya >> 1; cy <= yb >> 1; cy++) {
      this.data.fill(U, uOffset + cy * uvStride + (xa >> 1), uOffset + cy * uvStride + (xb >> 1) + 1);
      this.data.fill(V, vOffset + cy * uvStride + (xa >> 1), vOffset + cy * uvStride + (xb >> 1) + 1);
    }
  }

  /** A rectangle's outline, `thickness` pixels inside the box. */
  strokeRect(x1: number, y1: number, x2: number, y2: number, colour: Rgb, thickness: number): void {
    const t = Math.max(1, thickness) - 1;
    const [xa, xb] = [Math.min(x1, x2), Math.max(x1, x2)];
    const [ya, yb] = [Math.min(y1, y2), Math.max(y1, y2)];
    this.fillRect(xa, ya, xb, ya + t, colour);
    this.fillRect(xa, yb - t, xb, yb, colour);
    this.fillRect(xa, ya, xa + t, yb, colour);
    this.fillRect(xb - t, ya, xb, yb, colour);
  }

  /** Segments between consecutive points (and back to the first when `closed`), `thickness` wide. */
  polyline(points: readonly Point[], colour: Rgb, thickness: number, closed: boolean): void {
    const n = points.length;
    const half = Math.max(1, thickness) / 2;
    for (let i = 0; i + 1 < n || (closed && n > 2 && i < n); i++) {
      const [ax, ay] = points[i]!;
      const [bx, by] = points[(i + 1) % n]!;
      const steps = Math.max(1, Math.ceil(Math.hypot(bx - ax, by - ay)));
      // A square stamped every pixel along the segment; a frame has few lines, so this is cheap.
      for (let s = 0; s <= steps; s++) {
        const x = ax + ((bx - ax) * s) / steps;
        const y = ay + ((by - ay) * s) / steps;
        this.fillRect(x - half, y - half, x + half - 1, y + half - 1, colour);
      }
    }
  }

  /** Text of `scale`×`scale` pixel cells, top-left at (x, y); returns its width in pixels. */
  text(x: number, y: number, text: string, colour: Rgb, scale: number): number {
    const step = (GLYPH_WIDTH + 1) * scale;
    for (let i = 0; i < text.length; i++) {
      const rows = glyph(text[i]!);
      const gx = x + i * step;
      for (let r = 0; r < GLYPH_HEIGHT; r++) {
        const bits = rows[r]!;
        for (let c = 0; c < GLYPH_WIDTH; c++) {
          if ((bits >> (GLYPH_WIDTH - 1 - c)) & 1) this.fillRect(gx + c * scale, y + r * scale, gx + (c + 1) * scale - 1, y + (r + 1) * scale - 1, colour);
        }
      }
    }
    return textWidth(text, scale);
  }

  private toYuv(c: Rgb): [number, number, number] {
    const key = c.join(',');
    let v = this.yuv.get(key);
    if (v === undefined) {
      v = rgbToYuv(c, matrixFor(this.height));
      this.yuv.set(key, v);
    }
    return v;
  }
}

export function textWidth(text: string, scale: number): number {
  return text.length === 0 ? 0 : (text.length * (GLYPH_WIDTH + 1) - 1) * scale;
}

export const textHeight = (scale: number): number => GLYPH_HEIGHT * scale;

/** Luma weights (Kr, Kb) of BT.601, BT.709 and BT.2020. */
type Matrix = readonly [number, number];
const BT601: Matrix = [0.299, 0.114];
const BT709: Matrix = [0.2126, 0.0722];
const BT2020: Matrix = [0.2627, 0.0593];

/**
 * The matrix GStreamer assumes for YUV caps without colorimetry (video-info.c): BT.601 up to 576
 * lines, BT.709 above, BT.2020 from 2160. The encoding pipeline's appsrc caps carry none either,
 * so what is drawn here is converted back with the same matrix.
 */
export function matrixFor(height: number): Matrix {
  return height >= 2160 ? BT2020 : height > 576 ? BT709 : BT601;
}

/** Limited-range ("TV") Y'CbCr of an sRGB colour. */
export function rgbToYuv([r, g, b]: Rgb, [kr, kb]: Matrix): [number, number, number] {
  const kg = 1 - kr - kb;
  const y = (kr * r + kg * g + kb * b) / 255;
  const u = ((b / 255) - y) / (2 * (1 - kb));
  const v = ((r / 255) - y) / (2 * (1 - kr));
  const clamp = (x: number): number => Math.max(0, Math.min(255, Math.round(x)));
  return [clamp(16 + 219 * y), clamp(128 + 224 * u), clamp(128 + 224 * v)];
}

/**
 * I420 to RGBA, scaled (nearest sample) to outWidth×outHeight: the jpeg-js fallback's input, in
 * its worker thread.
 */
export function i420ToRgba(data: Uint8Array, width: number, height: number, outWidth: number, outHeight: number): Buffer {
  const { yStride, uvStride, uOffset, vOffset } = i420Layout(width, height);
  const [kr, kb] = matrixFor(height);
  const kg = 1 - kr - kb;
  const out = Buffer.allocUnsafe(outWidth * outHeight * 4);
  const clamp = (x: number): number => (x < 0 ? 0 : x > 255 ? 255 : x);
  let o = 0;
  for (let oy = 0; oy < outHeight; oy++) {
    const y = Math.min(height - 1, Math.floor(((oy + 0.5) * height) / outHeight));
    for (let ox = 0; ox < outWidth; ox++) {
      const x = Math.min(width - 1, Math.floor(((ox + 0.5) * width) / outWidth));
      const Y = (data[y * yStride + x]! - 16) / 219;
      const ci = (y >> 1) * uvStride + (x >> 1);
      const U = (data[uOffset + ci]! - 128) / 224;
      const V = (data[vOffset + ci]! - 128) / 224;
      const r = Y + 2 * (1 - kr) * V;
      const b = Y + 2 * (1 - kb) * U;
      const g = (Y - kr * r - kb * b) / kg;
      out[o++] = clamp(Math.round(r * 255));
      out[o++] = clamp(Math.round(g * 255));
      out[o++] = clamp(Math.round(b * 255));
      out[o++] = 255;
    }
  }
  return out;
}
