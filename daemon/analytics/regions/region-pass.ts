import { FrameSkipped } from '../../inference/scheduler.js';
import type { Detection } from '../../inference/types.js';
import { MotionDetector } from '../../motion/motion-detector.js';
import type { Frame } from '../../video/frame.js';
import type { FullFrame } from '../../video/full-frame.js';
import type { DetectorPort } from '../ports.js';
import { cropI420ToBgrx } from './i420-crop.js';
import { iou } from '../tracker/iou.js';
import { cutByRegionEdge, mergeDetections } from './region-merge.js';
import { gridRegions, MAX_BOXES, planRegions, type MovingBox, type Rect, type Region } from './region-plan.js';

const inside = (b: Detection['box'], r: Rect): boolean => b[0] >= r.x && b[1] >= r.y && b[2] <= r.x + r.width && b[3] <= r.y + r.height;

export interface RegionPassOptions {
  /** The stream's newest full-resolution frame (VideoStream.latestFullFrame); null when the branch has none. */
  fullFrame: () => FullFrame | null;
  /** The detector's input size: a region is at least its larger side, and is handed in at most this size. */
  modelWidth: number;
  modelHeight: number;
  /** Regions run per frame (`detection.max_regions`): each costs one more model run. */
  maxRegions: number;
  /** The model's NMS IoU threshold, for detections where regions overlap. */
  iou?: number;
  maxDetections?: number;
  /** The stream's `motion.threshold`: grey levels (0-255) that count a motion cell as changed. */
  motionThreshold: number;
  /** Columns of the pass's motion grid; default REGION_MOTION_GRID. */
  motionGrid?: number;
  /** How long (frame time, ms) a small object found in a region keeps a region around it without motion; default REGION_HOLD_MS. */
  holdMs?: number;
  /**
   * `detection.scan_s` in ms: one tile of a grid over the frame, in turn, this often (0: never), in
   * a place the cap leaves free. What it finds is then held, so small people who were still before
   * the stream started, or never move, are found once the scan reaches them.
   */
  scanMs?: number;
  /**
   * Where crops are run, when not through the stream's own port: in vigild a lane of the model's
   * scheduler of their own, so that a crop never takes the place of the stream's next frame waiting
   * in its lane (a live lane keeps only its newest request) and other streams' frames go first.
   */
  cropPort?: DetectorPort;
}

/**
 * The moving boxes come from a motion detector of the pass's own on the analysis frame, twice as
 * fine as the stream's: the stream's 64 columns make a 1080p frame's cells 30 px wide, so a person
 * 30 px tall changes too little of any cell to register. On the plaza mosaic (docs/small-objects.md)
 * the stream's grid found motion for 12 regions in 12 frames and a recall of 0.36 under 80 px; 128
 * columns, 39 regions and 0.89; 208 columns, 0.91.
 */
export const REGION_MOTION_GRID = 128;

/**
 * A small object found in a region keeps a region where it was for this long after, moving or not
 * (Frigate keeps regions around tracked objects for the same reason): a person who stops makes no
 * motion, and the whole frame is too coarse to see them; the tracker bridges 2 s by default.
 */
export const REGION_HOLD_MS = 2000;

/** Objects at most this tall at the whole-frame pass's scale (model-input px) are held: larger ones the whole frame sees. */
const HOLD_BELOW_MODEL_PX = 20;

/** What a frame's region pass will do, fixed when the frame arrives. */
export interface RegionJob {
  full: FullFrame;
  regions: Region[];
}

export interface RegionStats {
  /** Frames with regions planned (around motion, held objects or the scan's tile), and regions run on them. */
  framesWithRegions: number;
  regionsRun: number;
  /** Regions over `max_regions`, regions too large to gain over the whole frame, regions the scheduler skipped (overload). */
  regionsCapped: number;
  regionsLowGain: number;
  regionsSkipped: number;
  /** Frames with regions planned but no full-resolution frame of the analysed frame's size to crop. */
  noFullFrame: number;
  /** Detections the regions added that the whole-frame pass did not have. */
  detectionsAdded: number;
  /** Regions planned with a held small object among their boxes (see REGION_HOLD_MS). */
  regionsHeld: number;
  /** Scan tiles run (`detection.scan_s`). */
  regionsScanned: number;
}

/**
 * Detection on crops around motion at the model's native size (as Frigate does), beside the
 * whole-frame pass: a person 30 px tall in a 1080p frame is 6 px at a 416 model's input when the
 * whole frame is scaled to it, too small for the model; in a 416×416 crop it keeps its 30 px. The
 * whole frame is still inferred on every frame the analyzer infers (big objects, still ones and
 * everything outside motion, with no change in what the tracker gets); regions only add to it.
 * docs/small-objects.md has the measurements and the rule for turning it on.
 */
export class RegionPass {
  readonly stats: RegionStats = {
    framesWithRegions: 0, regionsRun: 0, regionsCapped: 0, regionsLowGain: 0, regionsSkipped: 0, noFullFrame: 0, detectionsAdded: 0,
    regionsHeld: 0, regionsScanned: 0,
  };
  /** The scan's tiles for the frame size they were made for, the next one, and when it is due (frame time). */
  private scan: { width: number; height: number; tiles: Region[]; next: number; due: number } | null = null;
  /**
   * Small objects found in regions lately: where, the frame time they were last found, and the
   * source size their box is in (a camera that changes resolution would otherwise get regions at
   * the old size's places, or a late frame of the old size hold a box into the new one).
   */
  private held: { box: Detection['box']; ts: number; width: number; height: number }[] = [];
  private readonly modelSize: number;
  /** Crop buffers handed back after their run: two frames' regions may be in flight at once (pipeline depth 2). */
  private readonly pool: Buffer[] = [];

  private readonly motion: MotionDetector;

  constructor(private readonly opts: RegionPassOptions) {
    this.modelSize = Math.max(opts.modelWidth, opts.modelHeight);
    // Any changed component counts: the stream's min_area is about whether the frame shows motion.
    this.motion = new MotionDetector({ threshold: opts.motionThreshold, minArea: 0, gridWidth: opts.motionGrid ?? REGION_MOTION_GRID });
  }

  /**
   * Runs when the frame arrives, in frame order, before its inference: the motion grid on the
   * analysis frame, and where there are moving boxes, held objects or a scan tile due, the plan; a
   * still scene with nothing held and no scan costs the grid alone.
   * Takes the full frame now, since the branch holds the analysed frame (or the next one) only
   * until the pipeline decodes further.
   */
  plan(frame: Frame): RegionJob | null {
    const motion = this.motion.detect(frame);
    const holdMs = this.opts.holdMs ?? REGION_HOLD_MS;
    // A clock step backwards (a restarted stream) forgets them rather than holding them for ever.
    if (this.held.length > 0) {
      this.held = this.held.filter((h) => h.ts <= frame.ts && frame.ts - h.ts <= holdMs && h.width === frame.sourceWidth && h.height === frame.sourceHeight);
    }
    const scanTile = this.scanTile(frame);
    if ((!motion.motion || motion.regions.length === 0) && this.held.length === 0 && scanTile === null) return null;
    const boxes: MovingBox[] = motion.motion ? motion.regions.map((r) => ({ x: r.x, y: r.y, width: r.width, height: r.height, cells: r.cells })) : [];
    // Below any motion under the cap: a held object has no changed cells of its own.
    for (const { box } of this.held) boxes.push({ x: box[0], y: box[1], width: box[2] - box[0], height: box[3] - box[1], cells: 0 });
    const plan = planRegions(boxes, frame.sourceWidth, frame.sourceHeight, { modelSize: this.modelSize, maxRegions: this.opts.maxRegions });
    if (this.held.length > 0) {
      this.stats.regionsHeld += plan.regions.filter((r) => this.held.some((h) => inside(h.box, r))).length;
    }
    this.stats.regionsCapped += plan.capped;
    this.stats.regionsLowGain += plan.lowGain;
    const scanning = scanTile !== null && plan.regions.length < this.opts.maxRegions;
    if (plan.regions.length === 0 && !scanning) return null;
    const full = this.opts.fullFrame();
    // A size change in flight: the boxes are in the analysed frame's size, which the crop must match.
    if (full === null || full.width !== frame.sourceWidth || full.height !== frame.sourceHeight) {
      this.stats.noFullFrame += 1;
      return null;
    }
    // Only a tile that will be run moves the scan on: one due before the branch's first frame waits for it.
    if (scanning) {
      plan.regions.push(scanTile);
      this.stats.regionsScanned += 1;
      const s = this.scan!;
      s.next = (s.next + 1) % s.tiles.length;
      s.due = frame.ts + (this.opts.scanMs ?? 0);
    }
    this.stats.framesWithRegions += 1;
    return { full, regions: plan.regions };
  }

  /**
   * The whole frame through `port`, then each region in turn (through `cropPort` when given),
   * merged, in source pixels, highest score first. A skipped whole-frame run skips the frame
   * (FrameSkipped, as without regions); a skipped region run (the model was busy for longer than a
   * frame interval, or a newer frame's crop came) ends the regions of this frame, counted: under
   * overload the newest frame wins over this frame's regions.
   */
  async detect(frame: Frame, job: RegionJob | null, port: DetectorPort): Promise<Detection[]> {
    const whole = await port.detect(frame);
    if (job === null) return whole;
    const found = await this.detectInRegions(frame, job, this.opts.cropPort ?? port);
    const merged = mergeDetections(whole, found, {
      iou: this.opts.iou ?? 0.5, sameObjectIou: 0.3, maxDetections: this.opts.maxDetections ?? 100,
    });
    this.stats.detectionsAdded += merged.length - whole.length;
    this.hold(frame, found);
    return merged;
  }

  /** The scan tile due on this frame, if any (it is taken only where the cap leaves room). */
  private scanTile(frame: Frame): Region | null {
    const every = this.opts.scanMs ?? 0;
    if (every <= 0) return null;
    const { sourceWidth: width, sourceHeight: height } = frame;
    if (this.scan === null || this.scan.width !== width || this.scan.height !== height) {
      this.scan = { width, height, tiles: gridRegions(width, height, this.modelSize, Math.round(this.modelSize / 8)), next: 0, due: frame.ts };
    }
    // A clock step backwards (a restarted stream) must not hold the scan back until the old time.
    if (frame.ts < this.scan.due && this.scan.due - frame.ts <= every) return null;
    return this.scan.tiles[this.scan.next] ?? null;
  }

  /** Remembers the small objects found in this frame's regions (see REGION_HOLD_MS). */
  private hold(frame: Frame, found: readonly Detection[]): void {
    const scale = this.modelSize / Math.max(frame.sourceWidth, frame.sourceHeight);
    for (const d of found) {
      if ((d.box[3] - d.box[1]) * scale > HOLD_BELOW_MODEL_PX) continue;
      // The same object found again moves its entry instead of adding one.
      const same = this.held.find((h) => h.width === frame.sourceWidth && h.height === frame.sourceHeight && iou(h.box, d.box) > 0.3);
      if (same) {
        same.box = d.box;
        same.ts = Math.max(same.ts, frame.ts);
      } else {
        this.held.push({ box: d.box, ts: frame.ts, width: frame.sourceWidth, height: frame.sourceHeight });
      }
    }
    // A crowd: the newest are kept; the plan considers 64 boxes at most anyway.
    if (this.held.length > MAX_BOXES) this.held.splice(0, this.held.length - MAX_BOXES);
  }

  /** Each region's detections in source pixels, those cut by an inner region edge left out. */
  async detectInRegions(frame: Pick<Frame, 'streamId' | 'seq' | 'ts'>, job: RegionJob, port: DetectorPort): Promise<Detection[]> {
    const out: Detection[] = [];
    const { full } = job;
    for (let i = 0; i < job.regions.length; i++) {
      const region = job.regions[i] as Region;
      const scale = Math.min(1, this.opts.modelWidth / region.width, this.opts.modelHeight / region.height);
      const width = Math.max(1, Math.min(this.opts.modelWidth, Math.round(region.width * scale)));
      const height = Math.max(1, Math.min(this.opts.modelHeight, Math.round(region.height * scale)));
      const data = this.take(this.opts.modelWidth * this.opts.modelHeight * 4);
      let detections: Detection[];
      try {
        cropI420ToBgrx(full, region, width, height, data);
        detections = await port.detect({
          streamId: frame.streamId, seq: frame.seq, ts: frame.ts, format: 'BGRx', width, height,
          data: data.subarray(0, width * height * 4), sourceWidth: region.width, sourceHeight: region.height,
        });
      } catch (err) {
        if (!(err instanceof FrameSkipped)) throw err;
        this.stats.regionsSkipped += job.regions.length - i;
        break;
      } finally {
        this.pool.push(data);
      }
      this.stats.regionsRun += 1;
      for (const d of detections) {
        const box: Detection['box'] = [d.box[0] + region.x, d.box[1] + region.y, d.box[2] + region.x, d.box[3] + region.y];
        if (cutByRegionEdge(box, region, full.width, full.height)) continue;
        out.push({ ...d, box });
      }
    }
    return out;
  }

  private take(bytes: number): Buffer {
    const b = this.pool.pop();
    return b !== undefined && b.length >= bytes ? b : Buffer.alloc(bytes);
  }
}
