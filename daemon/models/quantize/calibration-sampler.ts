import type { Detection } from '../../inference/types.js';
import type { MotionResult } from '../../motion/motion-detector.js';
import type { Frame } from '../../video/frame.js';

/** A kept calibration frame (its own copy of the pixels) and what the analysis said about it. */
export interface SampledFrame {
  readonly frame: Frame;
  /** Fraction of the motion grid that changed (0 without a motion detector). */
  readonly motion: number;
  /** Detections of the frame's inference; null when it was not inferred (gated, skipped). */
  readonly detections: number | null;
}

interface Held extends SampledFrame {
  /** Efraimidis–Spirakis key u^(1/weight): the `count` largest keys are a weighted sample without replacement. */
  readonly key: number;
}

export interface SamplerOptions {
  /** Frames kept at most. */
  readonly count: number;
  /** How long the sampling lasts (ms of frame time). */
  readonly durationMs: number;
  /** Uniform in [0, 1); injectable so tests are repeatable. */
  readonly random?: () => number;
}

/** Candidate windows per kept frame: more than one, so the weights have a choice; few, so near copies are not all candidates. */
const WINDOWS_PER_FRAME = 4;

/**
 * Picks calibration frames from one stream over a stretch of time, preferring frames with motion
 * and detections: the ranges a quantizer finds on an empty scene leave out what the model is
 * there to see. The duration is cut into 4 × count windows; in each, the one frame with the most
 * motion and detections is the candidate (neighbouring frames are near copies, so one per window);
 * candidates enter a weighted reservoir of `count` (a still frame weighs 1, one with motion 4, one
 * with detections up to 7), so still stretches keep some frames (light changes over the day) while
 * busy ones are favoured. Memory: at most count + 1 frames, each at the stream's analysis size
 * (the model's input), copied only when a frame becomes its window's candidate.
 */
export class CalibrationSampler {
  private readonly heap: Held[] = [];
  private readonly windowMs: number;
  private readonly random: () => number;
  private start: number | null = null;
  private window = -1;
  private candidate: { frame: Frame; motion: number; detections: number | null; weight: number } | null = null;
  /** Frames offered, those with motion, those inferred: what the job reports. */
  seen = 0;
  motionFrames = 0;
  inferredFrames = 0;

  constructor(private readonly opts: SamplerOptions) {
    this.windowMs = Math.max(1, opts.durationMs / (WINDOWS_PER_FRAME * opts.count));
    this.random = opts.random ?? Math.random;
  }

  /** A concluded analysis frame; copies it only when it is the best of its window so far. */
  offer(frame: Frame, motion: MotionResult | undefined, detections: readonly Detection[] | null): void {
    this.seen += 1;
    if (motion?.motion === true) this.motionFrames += 1;
    if (detections !== null) this.inferredFrames += 1;
    this.start ??= frame.ts;
    const w = Math.floor((frame.ts - this.start) / this.windowMs);
    if (w !== this.window) {
      this.settle();
      this.window = w;
    }
    const weight = weightOf(motion, detections);
    const score = weight + (motion?.score ?? 0);
    const best = this.candidate;
    if (best !== null && best.weight + best.motion >= score) return;
    // The pipeline's buffer is the frame path's; the kept copy is ours. A candidate beaten within
    // its window lends its buffer to the next one, and a frame the reservoir lets go lends its own:
    // once `count` frames are held, sampling allocates nothing (a fresh 400 KB buffer's first
    // touch cost up to 12 ms on the shared VM, measured).
    const data = best !== null && best.frame.data.length === frame.data.length ? best.frame.data : this.buffer(frame.data.length);
    frame.data.copy(data);
    this.candidate = { frame: { ...frame, data }, motion: motion?.score ?? 0, detections: detections?.length ?? null, weight };
  }

  /**
   * A buffer let go of by the reservoir, else the next slot of one slab sized for count + 1 frames
   * on the first frame: one allocation per job instead of one per kept frame, each of which also
   * told V8 of more external memory and brought on a garbage collection on the frame path
   * (measured: the analysed rate fell to 0.70 of the rate without a job while 300 frames filled in
   * 20 s). A frame of another size (the camera changed resolution) gets a buffer of its own.
   */
  private buffer(bytes: number): Buffer {
    const spare = this.spare;
    this.spare = null;
    if (spare !== null && spare.length === bytes) return spare;
    this.slab ??= { bytes, data: Buffer.allocUnsafeSlow(bytes * (this.opts.count + 1)), next: 0 };
    const slab = this.slab;
    if (slab.bytes !== bytes || slab.next >= this.opts.count + 1) return Buffer.allocUnsafe(bytes);
    slab.next += 1;
    return slab.data.subarray((slab.next - 1) * bytes, slab.next * bytes);
  }

  private spare: Buffer | null = null;
  private slab: { bytes: number; data: Buffer; next: number } | null = null;

  /** The window's candidate into the reservoir (or not); the frame that loses its place lends its buffer. */
  private settle(): void {
    const c = this.candidate;
    this.candidate = null;
    if (c === null) return;
    const key = Math.pow(Math.max(this.random(), Number.MIN_VALUE), 1 / c.weight);
    const held: Held = { frame: c.frame, motion: c.motion, detections: c.detections, key };
    const root = this.heap[0];
    if (this.heap.length < this.opts.count) {
      this.push(held);
    } else if (root !== undefined && key > root.key) {
      this.heap[0] = held;
      this.down(0);
      this.spare = root.frame.data;
    } else {
      this.spare = c.frame.data;
    }
  }

  /** Frames kept so far (the last window's candidate included), in frame order. */
  frames(): SampledFrame[] {
    this.settle();
    return this.heap.map(({ frame, motion, detections }) => ({ frame, motion, detections })).sort((a, b) => a.frame.ts - b.frame.ts);
  }

  get kept(): number {
    return this.heap.length + (this.candidate === null ? 0 : 1);
  }

  /** Bytes of pixels held now. */
  get bytes(): number {
    return this.heap.reduce((n, h) => n + h.frame.data.length, this.candidate?.frame.data.length ?? 0);
  }

  // A min-heap on key: the root is the first to go when a heavier candidate comes.
  private push(h: Held): void {
    this.heap.push(h);
    let i = this.heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((this.heap[p] as Held).key <= h.key) break;
      this.heap[i] = this.heap[p] as Held;
      i = p;
    }
    this.heap[i] = h;
  }

  private down(i: number): void {
    const n = this.heap.length;
    const h = this.heap[i] as Held;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (this.heap[r] as Held).key < (this.heap[l] as Held).key ? r : l;
      if ((this.heap[c] as Held).key >= h.key) break;
      this.heap[i] = this.heap[c] as Held;
      i = c;
    }
    this.heap[i] = h;
  }
}

/** 1 for a still frame, 4 with motion, up to 7 with detections (3 or more count fully). */
export function weightOf(motion: MotionResult | undefined, detections: readonly Detection[] | null): number {
  return 1 + (motion?.motion === true ? 3 : 0) + Math.min(3, detections?.length ?? 0);
}
