import type { Frame } from '../video/frame.js';

/** A box in source pixels (the camera's own size), the same space detections are reported in. */
export interface MotionRegion {
  x: number;
  y: number;
  width: number;
  height: number;
  /** Grid cells that changed inside this region. */
  cells: number;
}

export interface MotionResult {
  motion: boolean;
  /** Fraction of grid cells that changed, 0-1. */
  score: number;
  regions: MotionRegion[];
}

export interface MotionOptions {
  /** Grey-level difference (0-255) that counts a grid cell as changed. */
  readonly threshold: number;
  /** Fraction of the grid that must change for the frame to count as motion. */
  readonly minArea: number;
  /** Grid columns; rows follow the frame's aspect ratio. */
  readonly gridWidth?: number;
  /** How fast the background follows the scene, per frame (0-1). */
  readonly learningRate?: number;
  /** Components smaller than this many cells count towards the score but are not reported as regions. */
  readonly minRegionCells?: number;
}

/** Offsets of R, G and B within a 32-bit pixel, per packed format. */
const CHANNELS: Record<Frame['format'], readonly [number, number, number]> = {
  BGRx: [2, 1, 0],
  BGRA: [2, 1, 0],
  RGBx: [0, 1, 2],
  RGBA: [0, 1, 2],
};

/**
 * Model-free motion: the frame is averaged down to a small grey grid, compared with a running
 * average of past grids, and changed cells are grouped into 8-connected regions. All buffers are
 * sized on the first frame (and again only if the frame size changes), so steady-state detection
 * allocates nothing; the returned result and its regions are reused by the next call.
 */
export class MotionDetector {
  private readonly maxGridW: number;
  private readonly alpha: number;
  private readonly minRegionCells: number;
  private gridW = 0;
  private gridH = 0;
  private frameW = 0;
  private frameH = 0;
  private grey = new Float32Array(0);
  private background = new Float32Array(0);
  private primed = false;
  private mask = new Uint8Array(0);
  /** Flood-fill stack and per-cell visited marks. */
  private stack = new Int32Array(0);
  private label = new Uint8Array(0);
  /** Frame column/row where each grid cell starts; cell i spans [start[i], start[i+1]). */
  private colStart = new Int32Array(0);
  private rowStart = new Int32Array(0);
  private readonly pool: MotionRegion[] = [];
  private readonly result: MotionResult = { motion: false, score: 0, regions: [] };

  /** Options from a stream's `motion` config block. */
  static fromConfig(motion: { readonly threshold: number; readonly min_area: number }): MotionDetector {
    return new MotionDetector({ threshold: motion.threshold, minArea: motion.min_area });
  }

  constructor(private readonly opts: MotionOptions) {
    this.maxGridW = Math.max(4, Math.floor(opts.gridWidth ?? 64));
    this.alpha = opts.learningRate ?? 0.05;
    this.minRegionCells = Math.max(1, opts.minRegionCells ?? 2);
  }

  /** Forgets the background, for example after a camera restart or a scene cut. */
  reset(): void {
    this.primed = false;
  }

  detect(frame: Frame): MotionResult {
    if (frame.width !== this.frameW || frame.height !== this.frameH) this.resize(frame.width, frame.height);
    this.toGrey(frame);
    const n = this.gridW * this.gridH;
    const r = this.result;
    r.regions.length = 0;
    if (!this.primed) {
      this.background.set(this.grey);
      this.primed = true;
      r.motion = false;
      r.score = 0;
      return r;
    }
    let changed = 0;
    const t = this.opts.threshold;
    for (let i = 0; i < n; i++) {
      const g = this.grey[i] ?? 0;
      const b = this.background[i] ?? 0;
      const hit = Math.abs(g - b) > t ? 1 : 0;
      this.mask[i] = hit;
      changed += hit;
      this.background[i] = b + this.alpha * (g - b);
    }
    r.score = changed / n;
    r.motion = changed > 0 && r.score >= this.opts.minArea;
    if (r.motion) this.findRegions(frame.sourceWidth || frame.width, frame.sourceHeight || frame.height);
    return r;
  }

  private resize(w: number, h: number): void {
    this.frameW = w;
    this.frameH = h;
    const gw = Math.min(this.maxGridW, w);
    const gh = Math.max(1, Math.min(h, Math.round((gw * h) / w)));
    this.gridW = gw;
    this.gridH = gh;
    const n = gw * gh;
    this.grey = new Float32Array(n);
    this.background = new Float32Array(n);
    this.mask = new Uint8Array(n);
    this.label = new Uint8Array(n);
    this.stack = new Int32Array(n);
    this.colStart = new Int32Array(gw + 1);
    this.rowStart = new Int32Array(gh + 1);
    for (let i = 0; i <= gw; i++) this.colStart[i] = Math.floor((i * w) / gw);
    for (let j = 0; j <= gh; j++) this.rowStart[j] = Math.floor((j * h) / gh);
    this.primed = false;
  }

  /** Box-averages the frame into the grey grid, sampling every other pixel in each direction. */
  private toGrey(frame: Frame): void {
    const [ro, go, bo] = CHANNELS[frame.format];
    const data = frame.data;
    const stride = frame.width * 4;
    const gw = this.gridW;
    for (let cy = 0; cy < this.gridH; cy++) {
      const y0 = this.rowStart[cy] ?? 0;
      const y1 = this.rowStart[cy + 1] ?? y0;
      for (let cx = 0; cx < gw; cx++) {
        const x0 = this.colStart[cx] ?? 0;
        const x1 = this.colStart[cx + 1] ?? x0;
        let sum = 0;
        let count = 0;
        for (let y = y0; y < y1; y += 2) {
          let p = y * stride + x0 * 4;
          for (let x = x0; x < x1; x += 2, p += 8) {
            // ITU-R BT.601 luma weights in 8-bit fixed point.
            sum += ((data[p + ro] ?? 0) * 77 + (data[p + go] ?? 0) * 150 + (data[p + bo] ?? 0) * 29) >> 8;
            count++;
          }
        }
        this.grey[cy * gw + cx] = count > 0 ? sum / count : 0;
      }
    }
  }

  /** 8-connected components of the change mask, as boxes scaled from grid cells to source pixels. */
  private findRegions(srcW: number, srcH: number): void {
    const gw = this.gridW;
    const gh = this.gridH;
    const n = gw * gh;
    this.label.fill(0);
    const sx = srcW / gw;
    const sy = srcH / gh;
    let used = 0;
    for (let start = 0; start < n; start++) {
      if (this.mask[start] !== 1 || this.label[start] !== 0) continue;
      let minX = gw;
      let minY = gh;
      let maxX = -1;
      let maxY = -1;
      let cells = 0;
      let top = 0;
      this.stack[top++] = start;
      this.label[start] = 1;
      while (top > 0) {
        const i = this.stack[--top] ?? 0;
        const x = i % gw;
        const y = (i - x) / gw;
        cells++;
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
        for (let dy = -1; dy <= 1; dy++) {
          const ny = y + dy;
          if (ny < 0 || ny >= gh) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const nx = x + dx;
            if (nx < 0 || nx >= gw) continue;
            const j = ny * gw + nx;
            if (this.mask[j] === 1 && this.label[j] === 0) {
              this.label[j] = 1;
              this.stack[top++] = j;
            }
          }
        }
      }
      if (cells < this.minRegionCells) continue;
      let region = this.pool[used];
      if (region === undefined) {
        region = { x: 0, y: 0, width: 0, height: 0, cells: 0 };
        this.pool.push(region);
      }
      used++;
      region.x = Math.round(minX * sx);
      region.y = Math.round(minY * sy);
      region.width = Math.round((maxX + 1) * sx) - region.x;
      region.height = Math.round((maxY + 1) * sy) - region.y;
      region.cells = cells;
      this.result.regions.push(region);
    }
  }
}
