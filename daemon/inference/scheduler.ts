import type { Frame } from '../video/frame.js';
import type { Detection } from './types.js';

export type StreamPriority = 'low' | 'normal' | 'high';

const RANK: Record<StreamPriority, number> = { high: 2, normal: 1, low: 0 };

/** What the scheduler runs frames on: one model, `pipelineDepth` runs handed in at a time. */
export interface ScheduledModel {
  detect(frame: Frame): Promise<Detection[]>;
  /**
   * Frames one run can take. Above 1 (a model with a dynamic batch dimension), `detectBatch` is
   * used whenever more than one stream is waiting.
   */
  readonly maxBatch?: number;
  detectBatch?(frames: readonly Frame[]): Promise<Detection[][]>;
  /**
   * Runs the model can be handed at once (default 1). A model in a worker thread takes a second
   * frame while it runs one, so that it starts the next run the moment the last one ends.
   */
  readonly pipelineDepth?: number | undefined;
}

/**
 * The frame was not run: by the time the model was free, its stream had a newer one. The analysis
 * loop counts it as dropped and hands in its newest frame instead.
 */
export class FrameSkipped extends Error {
  constructor(readonly streamId: string, readonly waitedMs: number) {
    super(`frame of stream ${streamId} skipped: it waited ${Math.round(waitedMs)} ms and a newer one is due`);
    this.name = 'FrameSkipped';
  }
}

export interface LaneOptions {
  streamId: string;
  priority: StreamPriority;
  /** The stream's analysis rate: a frame older than one interval has a newer one behind it. */
  fps: number;
  /**
   * False for sources that wait for the consumer (a file analysed as fast as possible): there is
   * no newer frame to skip to, so nothing is skipped.
   */
  skipStale?: boolean;
}

export interface LaneStats {
  streamId: string;
  priority: StreamPriority;
  /** Frames handed in, frames run, frames skipped as stale (a newer frame was due). */
  submitted: number;
  served: number;
  skipped: number;
  /** Runs that carried more than one stream's frame. */
  batched: number;
}

interface Request {
  frame: Frame;
  queuedAt: number;
  resolve(d: Detection[]): void;
  reject(err: unknown): void;
}

interface Lane {
  readonly opts: LaneOptions;
  readonly rank: number;
  readonly maxWaitMs: number;
  /** Registration order: the last tie-break, so the order never depends on the clock's resolution. */
  readonly order: number;
  lastServed: number;
  /**
   * Frames waiting to be run, oldest first. A live lane holds at most one (its newest); a lane whose
   * source waits for its consumer holds what its analysis loop hands in (at most its pipeline depth).
   */
  readonly pending: Request[];
  readonly live: boolean;
  readonly stats: LaneStats;
}

/** What a stream's analysis loop holds: the analyzer's DetectorPort, plus its counters. */
export interface SchedulerLane {
  detect(frame: Frame): Promise<Detection[]>;
  readonly stats: LaneStats;
}

/** Priority first, then the lane served longest ago, then registration order. */
function before(a: Lane, b: Lane): number {
  return b.rank - a.rank || a.lastServed - b.lastServed || a.order - b.order;
}

export interface SchedulerOptions {
  now?: () => number;
  /** Overrides the model's `pipelineDepth`. */
  depth?: number;
}

/**
 * One per model: the streams that use it hand in their newest frame, and whenever the model can
 * take one (it holds up to `pipelineDepth`) the scheduler picks what runs next. The highest priority
 * with a frame waiting goes first; within a priority, the stream served longest ago (so equal
 * streams share the model equally, and a stream that needs less than its share gets all it needs).
 * A live stream has at most one frame waiting, its newest; a frame that has waited longer than its
 * stream's frame interval is skipped and counted, since the stream has a newer frame by then: under
 * overload streams lose frames, never accumulate latency. With a batch-capable model, the next
 * frames of several streams go in one run.
 */
export class InferenceScheduler {
  private readonly lanes: Lane[] = [];
  /** Runs handed to the model and not yet finished. */
  private inFlight = 0;
  private readonly depth: number;
  /** A pick put off until skipped streams have handed in their newest frames (see pump). */
  private deferred = false;
  private closed = false;
  private readonly now: () => number;
  /** Runs and frames run, for the mean batch size. */
  runs = 0;
  framesRun = 0;
  /** Batched runs that failed and were run again frame by frame. */
  batchFallbacks = 0;

  /** Frames one run may take now; read at each pick, since a model swap may change it. */
  get maxBatch(): number {
    return this.model.detectBatch !== undefined ? Math.max(1, Math.floor(this.model.maxBatch ?? 1)) : 1;
  }

  constructor(private readonly model: ScheduledModel, opts: SchedulerOptions = {}) {
    this.now = opts.now ?? (() => performance.now());
    this.depth = Math.max(1, Math.floor(opts.depth ?? model.pipelineDepth ?? 1));
  }

  /** A port for one stream's analysis loop; one frame at a time per port, as the loop does. */
  lane(opts: LaneOptions): SchedulerLane {
    const lane: Lane = {
      opts, rank: RANK[opts.priority], order: this.lanes.length,
      maxWaitMs: opts.skipStale === false ? Number.POSITIVE_INFINITY : 1000 / opts.fps,
      lastServed: Number.NEGATIVE_INFINITY, pending: [], live: opts.skipStale !== false,
      stats: { streamId: opts.streamId, priority: opts.priority, submitted: 0, served: 0, skipped: 0, batched: 0 },
    };
    this.lanes.push(lane);
    return { stats: lane.stats, detect: (frame) => this.submit(lane, frame) };
  }

  stats(): LaneStats[] {
    return this.lanes.map((l) => ({ ...l.stats }));
  }

  /** Refuses new frames and skips those waiting; a run in progress finishes. */
  close(): void {
    this.closed = true;
    for (const lane of this.lanes) this.skip(lane);
  }

  private submit(lane: Lane, frame: Frame): Promise<Detection[]> {
    return new Promise((resolve, reject) => {
      lane.stats.submitted++;
      if (this.closed) {
        lane.stats.skipped++;
        reject(new FrameSkipped(lane.opts.streamId, 0));
        return;
      }
      // A live stream's newer frame replaces the one waiting: only the newest is worth running.
      // A file analysed as fast as it goes has no newer frame to lose: its frames queue.
      if (lane.live) this.skip(lane);
      lane.pending.push({ frame, queuedAt: this.now(), resolve, reject });
      this.pump();
    });
  }

  /** Skips every frame the lane has waiting. */
  private skip(lane: Lane): void {
    for (const req of lane.pending.splice(0)) {
      lane.stats.skipped++;
      req.reject(new FrameSkipped(lane.opts.streamId, this.now() - req.queuedAt));
    }
  }

  /**
   * Lanes with a fresh frame waiting, best first; stale frames are skipped on the way. `skippedAhead`:
   * a lane whose turn it was had only a stale frame.
   */
  private ready(now: number): { ready: Lane[]; skippedAhead: boolean } {
    const ready: Lane[] = [];
    const skipped: Lane[] = [];
    for (const lane of this.lanes) {
      const req = lane.pending[0];
      if (req === undefined) continue;
      if (now - req.queuedAt > lane.maxWaitMs) {
        this.skip(lane);
        skipped.push(lane);
        continue;
      }
      ready.push(lane);
    }
    ready.sort(before);
    const first = ready[0];
    return { ready, skippedAhead: skipped.some((l) => first === undefined || before(l, first) < 0) };
  }

  private pump(): void {
    if (this.inFlight >= this.depth || this.deferred) return;
    const now = this.now();
    const { ready, skippedAhead } = this.ready(now);
    if (skippedAhead) {
      // The stream whose turn it is had a stale frame: its newest arrives within this turn of the
      // event loop (the analysis loop takes it from its slot at once). Picking now would hand its
      // turn to whichever stream happened to hand in a frame last, and under heavy load the same
      // streams would lose every time.
      this.deferred = true;
      setImmediate(() => {
        this.deferred = false;
        this.pump();
      });
      return;
    }
    const chosen = ready.slice(0, this.maxBatch);
    if (chosen.length === 0) return;
    const reqs: Request[] = [];
    for (const lane of chosen) {
      reqs.push(lane.pending.shift() as Request);
      lane.lastServed = now;
      lane.stats.served++;
      if (chosen.length > 1) lane.stats.batched++;
    }
    this.inFlight++;
    this.runs++;
    this.framesRun += reqs.length;
    void this.run(reqs).finally(() => {
      this.inFlight--;
      this.pump();
    });
    // A second run may go in at once when the model takes one while it runs another.
    if (this.inFlight < this.depth) this.pump();
  }

  private async run(reqs: readonly Request[]): Promise<void> {
    try {
      if (reqs.length === 1) {
        const req = reqs[0] as Request;
        req.resolve(await this.model.detect(req.frame));
        return;
      }
      const results = await (this.model.detectBatch as NonNullable<ScheduledModel['detectBatch']>)(reqs.map((r) => r.frame));
      if (results.length !== reqs.length) throw new Error(`a batch of ${reqs.length} frames returned ${results.length} results`);
      reqs.forEach((r, i) => r.resolve(results[i] as Detection[]));
    } catch (err) {
      if (reqs.length === 1) {
        (reqs[0] as Request).reject(err);
        return;
      }
      // One bad frame (a wrong size) fails the whole run: each frame then runs on its own, so only
      // the bad one fails and the others still get their detections.
      this.batchFallbacks++;
      await Promise.all(reqs.map((r) => this.model.detect(r.frame).then((d) => r.resolve(d), (e: unknown) => r.reject(e))));
    }
  }
}
