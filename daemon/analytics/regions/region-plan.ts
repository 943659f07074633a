/** A rectangle in source pixels: left, top, width, height (whole pixels). */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A moving box (a motion region) with how much of it changed, which orders the regions under the cap. */
export interface MovingBox extends Rect {
  /** Changed motion-grid cells inside the box. */
  cells: number;
}

/** A crop of the full-resolution frame to run the detector on. */
export interface Region extends Rect {
  /** Changed cells of the moving boxes it covers. */
  cells: number;
}

export interface RegionPlanOptions {
  /** The detector's input side (its larger side for a non-square input): the smallest region, so a crop runs at native scale. */
  modelSize: number;
  /** Regions kept per frame, those with the most motion first. */
  maxRegions: number;
  /** A region is this much larger than the moving boxes it covers (Frigate's 1.2), so a walking person is inside whole. */
  grow?: number;
  /**
   * A region must see objects at least this many times larger than the whole-frame pass does, or it
   * is not worth a model run: a 1280-px region of a 1920-px frame scaled to 416 gains only 1.5×.
   */
  minGain?: number;
}

export interface RegionPlan {
  regions: Region[];
  /** Regions planned but over the cap, and those that would gain too little over the whole frame. */
  capped: number;
  lowGain: number;
}

/** Moving boxes considered per frame, those with the most changed cells first. */
export const MAX_BOXES = 64;

/**
 * Frigate's region planning, simplified: each moving box gets a square region at least the model's
 * input size (so the crop is run at native scale, not shrunk as the whole frame is), centred on it
 * and shifted inside the frame; regions that overlap are replaced by one around the union of their
 * boxes, until none overlap (unless the union would be too coarse to gain over the whole frame); regions are clipped to the frame (a frame narrower than a region gets
 * the frame's width). Squares, because the models take a square input: a non-square crop would
 * leave part of the model's input as padding. Pure and allocation-light; runs only on frames with
 * motion.
 */
export function planRegions(boxes: readonly MovingBox[], frameWidth: number, frameHeight: number, opts: RegionPlanOptions): RegionPlan {
  const grow = opts.grow ?? 1.2;
  const minGain = opts.minGain ?? 1.5;
  const plan: RegionPlan = { regions: [], capped: 0, lowGain: 0 };
  if (frameWidth <= 0 || frameHeight <= 0) return plan;
  // Each cluster: the union of its moving boxes and the region around it.
  // How many source pixels one model-input pixel covers in the whole-frame pass, and a region's gain over it.
  const frameStep = Math.max(frameWidth, frameHeight) / opts.modelSize;
  const gain = (r: Rect): number => frameStep / (Math.max(r.width, r.height) / opts.modelSize);
  // The merge is quadratic in the boxes; a frame of noise can have hundreds. Those with the most
  // change are the ones the cap would keep anyway.
  const clusters = [...boxes].sort((x, y) => y.cells - x.cells).slice(0, MAX_BOXES)
    .filter((b) => b.width > 0 && b.height > 0)
    .map((b) => ({ box: clip({ x: b.x, y: b.y, width: b.width, height: b.height }, frameWidth, frameHeight), cells: b.cells }))
    .filter((c) => c.box.width > 0 && c.box.height > 0)
    .map((c) => ({ ...c, region: regionAround(c.box, frameWidth, frameHeight, opts.modelSize, grow) }));
  // A region that grows by a merge may now overlap one it was checked against: passes until none merges.
  for (let merged = true; merged;) {
    merged = false;
    for (let i = 0; i < clusters.length; i++) {
      for (let j = i + 1; j < clusters.length;) {
        const a = clusters[i]!;
        const b = clusters[j]!;
        const box = overlaps(a.region, b.region) ? union(a.box, b.box) : null;
        const region = box === null ? null : regionAround(box, frameWidth, frameHeight, opts.modelSize, grow);
        // Two regions that would only merge into one too coarse to gain anything stay two (overlapping).
        if (box === null || region === null || gain(region) < minGain) {
          j += 1;
          continue;
        }
        clusters[i] = { box, cells: a.cells + b.cells, region };
        clusters.splice(j, 1);
        merged = true;
        j = i + 1;
      }
    }
  }
  clusters.sort((a, b) => b.cells - a.cells);
  for (const c of clusters) {
    if (gain(c.region) < minGain) {
      plan.lowGain += 1;
      continue;
    }
    if (plan.regions.length >= opts.maxRegions) {
      plan.capped += 1;
      continue;
    }
    plan.regions.push({ ...c.region, cells: c.cells });
  }
  return plan;
}

/** The square region around `box`: at least `modelSize` and `grow` times the box's larger side, inside the frame. */
export function regionAround(box: Rect, frameWidth: number, frameHeight: number, modelSize: number, grow: number): Rect {
  // A multiple of 4 keeps the crop's chroma sampling and any scaling on whole pixels.
  const side = Math.ceil(Math.max(modelSize, Math.max(box.width, box.height) * grow) / 4) * 4;
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const place = (centre: number, limit: number): [number, number] => {
    if (side >= limit) return [0, limit];
    const start = Math.round(centre - side / 2);
    return [Math.min(Math.max(0, start), limit - side), side];
  };
  const [x, width] = place(cx, frameWidth);
  const [y, height] = place(cy, frameHeight);
  return { x, y, width, height };
}

function clip(r: Rect, frameWidth: number, frameHeight: number): Rect {
  const x = Math.max(0, Math.floor(r.x));
  const y = Math.max(0, Math.floor(r.y));
  const x2 = Math.min(frameWidth, Math.ceil(r.x + r.width));
  const y2 = Math.min(frameHeight, Math.ceil(r.y + r.height));
  return { x, y, width: Math.max(0, x2 - x), height: Math.max(0, y2 - y) };
}

function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

function union(a: Rect, b: Rect): Rect {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y };
}

/**
 * Crops of `size` covering a width×height frame, neighbours sharing at least `overlap` pixels, row
 * by row: the scan's tiles (`detection.scan_s`) and, in the bench, the reference's.
 */
export function gridRegions(width: number, height: number, size: number, overlap: number): Region[] {
  const side = Math.min(size, Math.max(width, height));
  const starts = (limit: number): number[] => {
    if (limit <= side) return [0];
    const n = Math.ceil((limit - overlap) / (side - overlap));
    return Array.from({ length: n }, (_, i) => Math.round((i * (limit - side)) / (n - 1)));
  };
  const out: Region[] = [];
  for (const y of starts(height)) {
    for (const x of starts(width)) out.push({ x, y, width: Math.min(side, width), height: Math.min(side, height), cells: 0 });
  }
  return out;
}
