import { readFile } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import type { Detector, InputSize } from '../inference/detector.js';
import type { Detection } from '../inference/types.js';
import type { Frame } from '../video/frame.js';
import type { PackageManifest } from './package-manifest.js';
import { iou } from '../analytics/tracker/iou.js';

/**
 * An image scaled as the video pipeline would scale a camera frame for this model (bilinear, aspect
 * kept when letterboxed), as RGBA, so the self-test runs the same preprocessing path as a stream.
 */
export function frameFromRgba(src: { width: number; height: number; data: Uint8Array }, size: InputSize): Frame {
  const r = size.letterbox ? Math.min(size.width / src.width, size.height / src.height) : 0;
  const w = size.letterbox ? Math.max(1, Math.min(size.width, Math.round(src.width * r))) : size.width;
  const h = size.letterbox ? Math.max(1, Math.min(size.height, Math.round(src.height * r))) : size.height;
  const out = Buffer.alloc(w * h * 4);
  const sx = src.width / w;
  const sy = src.height / h;
  for (let y = 0; y < h; y++) {
    const fy = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(src.height - 1, Math.floor(fy));
    const y1 = Math.min(src.height - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.max(0, (x + 0.5) * sx - 0.5);
      const x0 = Math.min(src.width - 1, Math.floor(fx));
      const x1 = Math.min(src.width - 1, x0 + 1);
      const wx = fx - x0;
      for (let c = 0; c < 4; c++) {
        const p = (yy: number, xx: number): number => src.data[(yy * src.width + xx) * 4 + c] ?? 0;
        const top = p(y0, x0) * (1 - wx) + p(y0, x1) * wx;
        const bottom = p(y1, x0) * (1 - wx) + p(y1, x1) * wx;
        out[(y * w + x) * 4 + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { streamId: 'self-test', seq: 0, ts: Date.now(), format: 'RGBA', width: w, height: h, data: out,
    sourceWidth: src.width, sourceHeight: src.height };
}

export async function selfTestFrame(imagePath: string, size: InputSize): Promise<Frame> {
  const img = jpeg.decode(await readFile(imagePath), { useTArray: true, formatAsRGBA: true, maxResolutionInMP: 50 });
  return frameFromRgba(img, size);
}

/** A black frame of the model's input size: a warm-up that exercises the whole path without judging it. */
export function blankFrame(size: InputSize): Frame {
  return { streamId: 'warm-up', seq: 0, ts: Date.now(), format: 'BGRx', width: size.width, height: size.height,
    data: Buffer.alloc(size.width * size.height * 4), sourceWidth: size.width, sourceHeight: size.height };
}

export interface SelfTestResult {
  passed: boolean;
  /** One line per expected object: found (with its IoU and score) or missing. */
  lines: string[];
  detections: Detection[];
}

/** Runs the package's self-test image and checks that each expected object is found where it should be. */
export async function runSelfTest(detector: Detector, test: NonNullable<PackageManifest['self_test']>, imagePath: string): Promise<SelfTestResult> {
  const frame = await selfTestFrame(imagePath, detector.inputSize());
  const detections = await detector.detect(frame);
  const lines: string[] = [];
  let passed = true;
  for (const e of test.expect) {
    let best: { d: Detection; iou: number } | null = null;
    for (const d of detections) {
      if (d.label !== e.label) continue;
      const o = iou(e.box, d.box);
      if (best === null || o > best.iou) best = { d, iou: o };
    }
    if (best !== null && best.iou >= test.min_iou) {
      lines.push(`${e.label}: found, IoU ${best.iou.toFixed(2)}, score ${best.d.score.toFixed(2)}`);
    } else {
      passed = false;
      lines.push(`${e.label} at [${e.box.join(', ')}]: ${best === null ? 'not detected' : `best IoU ${best.iou.toFixed(2)} < ${test.min_iou}`}`);
    }
  }
  return { passed, lines, detections };
}
