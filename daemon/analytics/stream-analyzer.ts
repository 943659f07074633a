import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';
import type { Detection } from '../inference/types.js';
import type { MotionResult } from '../motion/motion-detector.js';
import type { Frame } from '../video/frame.js';
import type { DetectorPort, EventSink, FrameSource, MotionPort } from './ports.js';
import type { PresenceRule, RuleHit } from './presence-rule.js';

export interface AnalyzerStats {
  framesAnalysed: number;
  inferences: number;
  inferenceErrors: number;
  /** Mean inference time over the last frames, ms (exponentially weighted). */
  inferenceMs: number;
  motionFrames: number;
  events: number;
  eventErrors: number;
  lastDetections: number;
}

export interface AnalyzerOptions {
  streamId: string;
  source: FrameSource;
  detector: DetectorPort | null;
  motion: MotionPort | null;
  rules: PresenceRule[];
  sink: EventSink;
  log: Logger;
  /** Model-less streams report motion onsets as events at most this often. */
  motionEventIntervalMs?: number;
}

/**
 * Where a frame becomes detections and detections become events, for one stream. One frame is
 * in flight at a time; while it is analysed, the source keeps only the newest frame, so a slow
 * model lowers the analysed rate instead of building a backlog of stale frames.
 */
export class StreamAnalyzer {
  readonly stats: AnalyzerStats = {
    framesAnalysed: 0, inferences: 0, inferenceErrors: 0, inferenceMs: 0,
    motionFrames: 0, events: 0, eventErrors: 0, lastDetections: 0,
  };
  private inMotion = false;
  private lastMotionEvent = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: AnalyzerOptions) {}

  async run(signal: AbortSignal): Promise<void> {
    for await (const frame of this.opts.source.frames(signal)) {
      if (signal.aborted) break;
      await this.process(frame);
    }
  }

  async process(frame: Frame): Promise<void> {
    this.stats.framesAnalysed += 1;
    const motion = this.opts.motion?.detect(frame);
    if (motion?.motion) this.stats.motionFrames += 1;

    if (this.opts.detector === null) {
      if (motion) this.reportMotion(frame, motion);
      return;
    }
    const detections = await this.infer(frame);
    if (detections === null) return;
    for (const rule of this.opts.rules) {
      const hit = rule.evaluate(frame.ts, detections);
      if (hit) this.emit(hit);
    }
  }

  private async infer(frame: Frame): Promise<Detection[] | null> {
    const started = performance.now();
    try {
      const detections = await this.opts.detector!.detect(frame);
      const ms = performance.now() - started;
      this.stats.inferenceMs = this.stats.inferences === 0 ? ms : 0.9 * this.stats.inferenceMs + 0.1 * ms;
      this.stats.inferences += 1;
      this.stats.lastDetections = detections.length;
      return detections;
    } catch (err) {
      this.stats.inferenceErrors += 1;
      // One line per power of two keeps a persistently failing model from flooding the journal.
      const n = this.stats.inferenceErrors;
      if ((n & (n - 1)) === 0) {
        this.opts.log.error({ stream: this.opts.streamId, errors: n, err: errorMessage(err) }, 'inference failed');
      }
      return null;
    }
  }

  /** Without a model, motion onsets are the events: the pipeline still shows it is working. */
  private reportMotion(frame: Frame, { motion: moving, score, regions }: MotionResult): void {
    const onset = moving && !this.inMotion;
    this.inMotion = moving;
    const interval = this.opts.motionEventIntervalMs ?? 5000;
    if (!onset || frame.ts - this.lastMotionEvent < interval) return;
    this.lastMotionEvent = frame.ts;
    this.emit({
      kind: 'motion', ruleId: 'motion', streamId: this.opts.streamId, severity: 'info', ts: frame.ts,
      objects: regions.map((r) => ({
        classId: -1, label: 'motion', score, box: [r.x, r.y, r.x + r.width, r.y + r.height] as Detection['box'],
      })),
    });
  }

  private emit(hit: RuleHit): void {
    try {
      const id = this.opts.sink.record(hit);
      this.stats.events += 1;
      this.opts.log.info({
        event: id, stream: hit.streamId, rule: hit.ruleId, severity: hit.severity,
        objects: hit.objects.map((o) => `${o.label} ${o.score.toFixed(2)}`),
      }, 'event');
    } catch (err) {
      // The frame path goes on; a store that cannot write is reported by its own health check.
      this.stats.eventErrors += 1;
      this.opts.log.error({ stream: hit.streamId, rule: hit.ruleId, err: errorMessage(err) }, 'event could not be stored');
    }
  }
}
