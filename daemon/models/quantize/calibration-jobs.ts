import { randomUUID } from 'node:crypto';
import type { FrameObserver } from '../../analytics/stream-analyzer.js';
import type { StreamConfig } from '../../config/schema.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { CalibrationSampler, type SampledFrame } from './calibration-sampler.js';

/** Where a job gets the streams' analysed frames (the stream supervisor). */
export interface FrameTap {
  observeFrames(streamId: string, observer: FrameObserver): () => void;
  isRunning(streamId: string): boolean;
}

export interface CalibrationDeps {
  /** Undefined while the daemon starts or stops. */
  tap: () => FrameTap | undefined;
  streams: () => readonly StreamConfig[];
  log: Logger;
  /** A finished job's frames are dropped this long after its last fetch if nobody drops them (a vigilctl that died). */
  keepMs?: number;
}

export interface CalibrationStart { streams: readonly string[]; count: number; duration_s: number }
export interface CalibrationFetch { job: string; from: number; max_bytes: number }

interface Job {
  id: string;
  streams: string[];
  count: number;
  durationS: number;
  startedAt: number;
  samplers: Map<string, CalibrationSampler>;
  detach: (() => void)[];
  /** Set when sampling has ended: every stream's frames in frame order, stream by stream. */
  frames: SampledFrame[] | null;
  timer: NodeJS.Timeout | null;
}

/**
 * `calibration.*` control methods: frames of the device's own streams, sampled over time for
 * `vigilctl models quantize --stream`. One job at a time (its frames are the memory it holds);
 * sampling watches the analysis loop's frames (at the model's input size) and copies only the
 * ones it keeps, so the frame path and the running model are not touched. The frames stay in this
 * process until the client drops them or, if it never does, `keepMs` after its last fetch.
 */
export class CalibrationJobs {
  private job: Job | null = null;
  private readonly keepMs: number;

  constructor(private readonly deps: CalibrationDeps) {
    this.keepMs = deps.keepMs ?? 10 * 60_000;
  }

  start(req: CalibrationStart): { job: string; streams: string[]; count: number; duration_s: number; started_at: number } {
    const held = this.job;
    if (held !== null) {
      throw new Error(`calibration job ${held.id} is ${held.frames === null ? 'sampling' : 'holding its frames'}; `
        + 'drop it (calibration.drop) or wait for it to end');
    }
    const tap = this.deps.tap();
    if (!tap) throw new Error('calibration sampling is not available: the daemon is starting or stopping');
    const configs = this.deps.streams();
    const ids = [...new Set(req.streams)];
    for (const id of ids) {
      const c = configs.find((s) => s.id === id);
      if (!c) throw new Error(`no stream "${id}" (streams: ${configs.map((s) => s.id).join(', ') || 'none'})`);
      if (!c.enabled) throw new Error(`stream "${id}" is disabled`);
      // A stream without a model is analysed at the motion detector's small size: no use to a model.
      if (c.model === undefined) throw new Error(`stream "${id}" runs no model, so its frames are not at a model's input size`);
      if (!tap.isRunning(id)) throw new Error(`stream "${id}" is not running`);
    }
    const perStream = Math.ceil(req.count / ids.length);
    const job: Job = {
      id: randomUUID(), streams: ids, count: req.count, durationS: req.duration_s, startedAt: Date.now(),
      samplers: new Map(ids.map((id) => [id, new CalibrationSampler({ count: perStream, durationMs: req.duration_s * 1000 })])), detach: [], frames: null, timer: null,
    };
    for (const [id, sampler] of job.samplers) {
      job.detach.push(tap.observeFrames(id, (frame, motion, detections) => sampler.offer(frame, motion, detections)));
    }
    job.timer = setTimeout(() => this.finish(job), req.duration_s * 1000);
    job.timer.unref();
    this.job = job;
    this.deps.log.info({ job: job.id, streams: ids, count: req.count, duration_s: req.duration_s }, 'calibration sampling started');
    return { job: job.id, streams: ids, count: req.count, duration_s: req.duration_s, started_at: job.startedAt };
  }

  /** Sampling ends: observers removed, frames fixed in order, the expiry armed. */
  private finish(job: Job): void {
    if (this.job !== job || job.frames !== null) return;
    for (const d of job.detach.splice(0)) d();
    const frames: SampledFrame[] = [];
    for (const s of job.samplers.values()) frames.push(...s.frames());
    job.frames = frames;
    this.deps.log.info({ job: job.id, frames: frames.length, bytes: frames.reduce((n, f) => n + f.frame.data.length, 0),
      seen: [...job.samplers.values()].reduce((n, s) => n + s.seen, 0) }, 'calibration sampling ended');
    this.armExpiry(job);
  }

  private armExpiry(job: Job): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = setTimeout(() => {
      if (this.job !== job) return;
      this.deps.log.warn({ job: job.id }, 'calibration frames dropped: not fetched or dropped in time');
      this.release(job);
    }, this.keepMs);
    job.timer.unref();
  }

  fetch(req: CalibrationFetch): FetchReply {
    const job = this.find(req.job);
    const samplers = [...job.samplers.values()];
    const base = {
      job: job.id, elapsed_s: (Date.now() - job.startedAt) / 1000, duration_s: job.durationS,
      seen: samplers.reduce((n, s) => n + s.seen, 0), motion_frames: samplers.reduce((n, s) => n + s.motionFrames, 0),
      inferred_frames: samplers.reduce((n, s) => n + s.inferredFrames, 0),
    };
    if (job.frames === null) {
      return { ...base, state: 'sampling', kept: samplers.reduce((n, s) => n + s.kept, 0), bytes: samplers.reduce((n, s) => n + s.bytes, 0), total: null, frames: [], next: 0 };
    }
    this.armExpiry(job);
    const all = job.frames;
    const out: FetchedFrame[] = [];
    let bytes = 0;
    let i = req.from;
    // At least one frame per reply, whatever max_bytes says: a reply of none would never progress.
    while (i < all.length && (out.length === 0 || bytes + (all[i]?.frame.data.length ?? 0) <= req.max_bytes)) {
      const s = all[i] as SampledFrame;
      const f = s.frame;
      out.push({ index: i, stream: f.streamId, seq: f.seq, ts: f.ts, format: f.format, width: f.width, height: f.height,
        source_width: f.sourceWidth, source_height: f.sourceHeight, motion: s.motion, detections: s.detections, data_base64: f.data.toString('base64') });
      bytes += f.data.length;
      i += 1;
    }
    return { ...base, state: 'done', kept: all.length, bytes: all.reduce((n, s) => n + s.frame.data.length, 0), total: all.length, frames: out, next: i };
  }

  drop(req: { job: string }): { job: string; dropped: number } {
    const job = this.find(req.job);
    const n = job.frames?.length ?? [...job.samplers.values()].reduce((k, s) => k + s.kept, 0);
    this.release(job);
    this.deps.log.info({ job: job.id, frames: n }, 'calibration frames dropped');
    return { job: job.id, dropped: n };
  }

  /** At daemon stop: observers removed, frames let go. */
  stop(): void {
    if (this.job) this.release(this.job);
  }

  private release(job: Job): void {
    for (const d of job.detach.splice(0)) {
      try {
        d();
      } catch (err) {
        this.deps.log.warn({ job: job.id, err: errorMessage(err) }, 'calibration observer could not be removed');
      }
    }
    if (job.timer) clearTimeout(job.timer);
    job.timer = null;
    job.frames = null;
    job.samplers.clear();
    if (this.job === job) this.job = null;
  }

  private find(id: string): Job {
    const job = this.job;
    if (job === null || job.id !== id) throw new Error(`no calibration job ${id}${job === null ? '' : ` (the current one is ${job.id})`}: it ended or was dropped`);
    return job;
  }
}

export interface FetchedFrame {
  index: number; stream: string; seq: number; ts: number; format: 'BGRx' | 'RGBx' | 'BGRA' | 'RGBA'; width: number; height: number;
  source_width: number; source_height: number; motion: number; detections: number | null; data_base64: string;
}

export interface FetchReply {
  job: string; state: 'sampling' | 'done'; elapsed_s: number; duration_s: number; seen: number; motion_frames: number; inferred_frames: number;
  kept: number; bytes: number; total: number | null; frames: FetchedFrame[]; next: number;
}
