import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';
import type { Detection } from '../inference/types.js';
import type { MotionResult } from '../motion/motion-detector.js';
import type { Frame } from '../video/frame.js';
import { FrameSkipped } from '../inference/scheduler.js';
import type { MotionGate } from './motion-gate.js';
import type { RegionJob, RegionPass, RegionStats } from './regions/region-pass.js';
import { SampleRing } from '../util/sample-ring.js';
import type { DetectorPort, EventSink, FrameSource, MotionPort } from './ports.js';
import { asObject, type EndReason, type Rule, type RuleHit, type RuleInput, type RuleOutput } from './rules/types.js';
import type { Look, Tracker, TrackedObject, TrackerFrame } from './tracker/index.js';
import type { PxReference } from './rules/geometry.js';
import { wallClock } from '../util/clock.js';
import { trackOf, triggerOf, type ActivityEndFacts } from '../events/event-kinds.js';

interface OpenActivity {
  eventId: string;
  ruleId: string;
  startedTs: number;
  trackId: number | undefined;
  /** Frame time of the start or of the last update sent. */
  sentTs: number;
}

/** The newest analysed frame's objects (StreamAnalyzer.latestObjects): when (wall clock, ms), in which source size. */
export interface LatestObjects {
  at: number;
  width: number;
  height: number;
  objects: { id: number | null; label: string; score: number; box: readonly [number, number, number, number] }[];
}

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
  /** Confirmed tracks matched in the latest frame. */
  tracks: number;
  /** Activities started and not yet ended, and those ended since start. */
  openActivities: number;
  endedActivities: number;
  /** Frames not inferred because the scene was still (motion gating). */
  gatedFrames: number;
  /** Frames the inference scheduler skipped because a newer one was due (overload). */
  skippedFrames: number;
  /**
   * Frames handed to the detector whose answer has not come back yet. With a detector, every
   * analysed frame is in exactly one of inferences, inferenceErrors, skippedFrames, gatedFrames
   * and this, at any instant the stats are read.
   */
  pendingInferences: number;
  /** True once the analysis loop has ended (its source ended or the stream stopped) with every frame concluded. */
  finished: boolean;
  /** The tracker's appearance cue, where it runs: crops embedded, tracks re-found by appearance alone, frames whose look failed. */
  appearance?: { crops: number; reidentified: number; failures: number };
  /** Times the camera's frame size changed mid-stream (absent until the first); each reset the tracker (see followResolution). */
  resolutionChanges?: number;
  /**
   * Set once the size changed while rules use `px` units: which rules, and the size their points
   * were taken to be drawn for. Such rules want `units: norm`.
   */
  geometryNote?: string;
  /** Region detection (`detection.regions`), where it runs: the pass's own counters, live. */
  regions?: RegionStats;
}

export interface AnalyzerOptions {
  streamId: string;
  source: FrameSource;
  detector: DetectorPort | null;
  motion: MotionPort | null;
  rules: Rule[];
  /** One per stream; null when no rule needs tracks. */
  tracker?: Tracker | null;
  sink: EventSink;
  log: Logger;
  /** Model-less streams report motion onsets as events at most this often. */
  motionEventIntervalMs?: number;
  /** An open activity sends the hub an update at most this often (frame time); default 30 s. */
  updateIntervalMs?: number;
  /** Skips inference on still frames; needs `motion`. */
  gate?: MotionGate | null;
  /**
   * Frames in flight at once (default 1). At 2, the next frame is handed to the detector while the
   * previous one's detections go through the tracker, rules and store, so a detector that can take
   * a second frame while it runs one (the inference worker) never waits for this loop.
   */
  pipelineDepth?: number;
  /**
   * The tracker's appearance cue (docs/tracking.md, "Appearance"): how to embed crops of a frame.
   * Absent or null, the tracker runs on motion alone and this loop never waits for it.
   */
  look?: ((frame: Frame) => Look) | null;
  /**
   * Also detect on crops of the full-resolution frame around motion (`detection.regions`,
   * docs/small-objects.md). Absent or null, one null check per inferred frame.
   */
  regions?: RegionPass | null;
}

/**
 * Sees each concluded frame with its motion result and, when it was inferred, its detections
 * (null when gated or skipped). Runs on the frame path: it must only look, or copy what it keeps.
 */
export type FrameObserver = (frame: Frame, motion: MotionResult | undefined, detections: readonly Detection[] | null) => void;

/** A frame past its first stage: what the motion detector said, and its inference if one was started. */
interface Started {
  frame: Frame;
  motion: MotionResult | undefined;
  detections: Promise<Detection[] | null> | null;
}

/**
 * Where a frame becomes detections and detections become events, for one stream. Each frame goes
 * through two stages: the first (motion, gating, handing the frame to the detector) in frame order
 * as frames arrive, the second (tracker, rules, events) in frame order once its detections are in.
 * At most `pipelineDepth` frames are between the two; meanwhile the source keeps only the newest
 * frame, so a slow model lowers the analysed rate instead of building a backlog of stale frames.
 */
export class StreamAnalyzer {
  readonly stats: AnalyzerStats = {
    framesAnalysed: 0, inferences: 0, inferenceErrors: 0, inferenceMs: 0,
    motionFrames: 0, events: 0, eventErrors: 0, lastDetections: 0, tracks: 0, openActivities: 0, endedActivities: 0,
    gatedFrames: 0, skippedFrames: 0, pendingInferences: 0, finished: false,
  };
  /** The camera's first frame size (what px-unit rule geometry is taken to be drawn for) and its latest. */
  private reference: PxReference | undefined;
  private sourceSize: PxReference | undefined;
  /** The tracker's latest answer: the ids a reset must end in the rules. */
  private lastTracked: TrackerFrame | null = null;
  /** The latest frame's detections (by reference, no copy or allocation per frame) and when its inference finished, for latestObjects. */
  private lastDetections: readonly Detection[] | null = null;
  private lastDetectedAt = 0;
  /** Open activities by rule and key: the event id their start was stored as. */
  private readonly open = new Map<string, OpenActivity>();
  private lastTs = 0;
  /** Recent inference times and pull-to-decision times (ms), for the telemetry's percentiles. */
  readonly recent = {
    inferenceMs: new SampleRing(), endToEndMs: new SampleRing(),
    /** Tracker, rules and activity updates on frames that stored no event, and on those that did (a SQLite commit). */
    afterInferenceMs: new SampleRing(), eventFrameMs: new SampleRing(),
  };
  private inMotion = false;
  /** The frame being analysed and when its inference finished; every hit it yields carries them. */
  private current: Pick<RuleHit, 'frame' | 'inferredAt'> = {};
  private lastMotionEvent = Number.NEGATIVE_INFINITY;
  /** Frames begun and not yet concluded: rule changes wait until a frame's conclusion. */
  private framesInFlight = 0;
  private pendingRules: { rules: Rule[]; tracker?: Tracker | null; reason?: EndReason } | null = null;
  /** Set only while something samples this stream (a calibration job); one null check per frame otherwise. */
  frameObserver: FrameObserver | null = null;

  constructor(private readonly opts: AnalyzerOptions) {
    if (opts.regions) this.stats.regions = opts.regions.stats;
  }

  async run(signal: AbortSignal): Promise<void> {
    const depth = Math.max(1, Math.floor(this.opts.pipelineDepth ?? 1));
    const inFlight: Promise<void>[] = [];
    try {
      for await (const frame of this.opts.source.frames(signal)) {
        if (signal.aborted) break;
        const started = this.begin(frame);
        const previous = inFlight.at(-1) ?? Promise.resolve();
        const done = previous.then(async () => {
          await this.concludeFrame(started);
          this.recent.endToEndMs.push(Date.now() - frame.ts);
        });
        // A failure surfaces where this frame is awaited; the frames chained behind it must not
        // also count as unhandled rejections, which would end the process.
        done.catch(() => undefined);
        inFlight.push(done);
        if (inFlight.length >= depth) await inFlight.shift();
      }
      for (const done of inFlight.splice(0)) await done;
    } finally {
      // An early exit (an error) still lets the frames handed in finish, so none is judged half-way.
      await Promise.allSettled(inFlight);
    }
    this.closeAll(this.lastTs, 'stream_ended');
    this.stats.finished = true;
  }

  /** Concludes a begun frame, then applies a rule change that arrived while frames were in flight. */
  private async concludeFrame(started: Started): Promise<void> {
    try {
      const detections = await this.conclude(started);
      if (this.frameObserver !== null) this.observe(started, detections);
    } finally {
      this.framesInFlight -= 1;
      this.applyPendingRules();
    }
  }

  /**
   * Live rule changes (daemon/manage): applied at once between frames, or after the frame in
   * flight, so that no frame is judged by half of one set and half of another. Rule objects that
   * are in both sets keep their state and activities; activities of the others end now, with
   * `reason` or else rule_removed / rule_changed, at the time of the last frame analysed. `tracker`
   * undefined keeps the current one.
   */
  setRules(rules: Rule[], change: { tracker?: Tracker | null; reason?: EndReason } = {}): void {
    this.pendingRules = { rules, ...change };
    if (this.framesInFlight === 0) this.applyPendingRules();
  }

  private applyPendingRules(): void {
    const next = this.pendingRules;
    if (next === null) return;
    this.pendingRules = null;
    const kept = new Set(next.rules);
    const ids = new Set(next.rules.map((r) => r.id));
    const old = new Map(this.opts.rules.map((r) => [r.id, r]));
    for (const [key, activity] of [...this.open]) {
      const rule = old.get(activity.ruleId);
      if (rule !== undefined && kept.has(rule)) continue;
      this.open.delete(key);
      this.finish(activity, this.lastTs, next.reason ?? (ids.has(activity.ruleId) ? 'rule_changed' : 'rule_removed'));
    }
    this.opts.rules = next.rules;
    if (next.tracker !== undefined) this.opts.tracker = next.tracker;
  }

  /** Both stages of one frame, one frame at a time. */
  async process(frame: Frame): Promise<void> {
    await this.concludeFrame(this.begin(frame));
  }

  /** The first stage: in frame order, as the frame arrives. */
  private begin(frame: Frame): Started {
    this.framesInFlight += 1;
    this.stats.framesAnalysed += 1;
    const motion = this.opts.motion?.detect(frame);
    if (motion?.motion) this.stats.motionFrames += 1;
    if (this.opts.detector === null) return { frame, motion, detections: null };
    const gate = this.opts.gate;
    if (gate && gate.decide(frame.ts, motion) === 'still') {
      this.stats.gatedFrames += 1;
      return { frame, motion, detections: null };
    }
    // Planned now, in frame order: the pass reads the full-resolution frame while it still holds this one.
    const regions = this.opts.regions;
    return { frame, motion, detections: this.infer(frame, regions ? regions.plan(frame) : null) };
  }

  /** An observer that throws loses its place, never the frame. */
  private observe(started: Started, detections: readonly Detection[] | null): void {
    try {
      this.frameObserver?.(started.frame, started.motion, detections);
    } catch (err) {
      this.frameObserver = null;
      this.opts.log.warn({ stream: this.opts.streamId, err: errorMessage(err) }, 'frame observer failed and was removed');
    }
  }

  /** The second stage: in frame order, once the frame's detections are in; returns them (null when none were made). */
  private async conclude({ frame, motion, detections: pending }: Started): Promise<readonly Detection[] | null> {
    if (this.opts.detector === null) {
      this.current = { frame, inferredAt: wallClock() };
      if (motion) this.reportMotion(frame, motion);
      return null;
    }
    if (pending === null) return null;
    const detections = await pending;
    if (detections === null) return null;
    this.current = { frame, inferredAt: wallClock() };
    const afterInference = performance.now();
    const eventsBefore = this.stats.events + this.stats.eventErrors;
    this.followResolution(frame);
    this.lastTs = frame.ts;
    const tracker = this.opts.tracker;
    const look = this.opts.look;
    const tracked = !tracker ? { tracks: [], lost: [], removed: [] }
      : look ? await tracker.updateSeeing(frame.ts, detections, look(frame)) : tracker.update(frame.ts, detections);
    this.lastTracked = tracked;
    this.stats.tracks = tracked.tracks.length;
    if (tracker && look) {
      const a = tracker.appearanceStats;
      this.stats.appearance = { crops: a.crops, reidentified: a.reidentified, failures: a.lookFailures };
    }
    this.lastDetections = detections;
    this.lastDetectedAt = this.current.inferredAt ?? 0;
    const input: RuleInput = {
      ts: frame.ts, detections, ...tracked, sourceWidth: frame.sourceWidth, sourceHeight: frame.sourceHeight,
      ...(this.reference !== undefined ? { pxReference: this.reference } : {}),
    };
    for (const rule of this.opts.rules) {
      for (const out of rule.evaluate(input)) this.apply(rule.id, out);
    }
    this.sendUpdates(frame, tracked.tracks);
    const ms = performance.now() - afterInference;
    if (this.stats.events + this.stats.eventErrors === eventsBefore) this.recent.afterInferenceMs.push(ms);
    else this.recent.eventFrameMs.push(ms);
    return detections;
  }

  /**
   * What the newest analysed frame showed, for the console's live overlay: the confirmed tracks when
   * a tracker runs, else the detections (id null), in source pixels. Built when asked, off the frame
   * path; the frame path only keeps a reference to what it made anyway.
   */
  latestObjects(): LatestObjects | null {
    const detections = this.lastDetections;
    const size = this.sourceSize;
    if (detections === null || size === undefined) return null;
    const tracks = this.lastTracked?.tracks;
    const objects = this.opts.tracker && tracks
      ? tracks.map((t) => ({ id: t.id, label: t.label, score: t.score, box: t.box }))
      : detections.map((o) => ({ id: null, label: o.label, score: o.score, box: o.box }));
    return { at: this.lastDetectedAt, width: size.width, height: size.height, objects };
  }

  /**
   * A camera that changes its resolution mid-stream: boxes already come in the new size (the
   * frame carries it), and rules rescale their geometry on their own. The tracker is reset rather
   * than rescaled: its motion model (velocities, noise) is in pixels of the old size, and a real
   * change comes with a new key frame and usually a gap, so continuity would be a guess. Open
   * activities end as `stream_changed`, and the rules are told that every track is gone, so no
   * rule keeps a stay for a track id that will never be seen again; objects still in view start
   * new activities once the tracker confirms them again.
   */
  private followResolution(frame: Frame): void {
    const { sourceWidth: width, sourceHeight: height } = frame;
    if (width <= 0 || height <= 0) return;
    const before = this.sourceSize;
    // Per frame: allocate only when the size is new.
    if (before !== undefined && before.width === width && before.height === height) return;
    this.sourceSize = { width, height };
    this.reference ??= this.sourceSize;
    if (before === undefined) return;
    this.stats.resolutionChanges = (this.stats.resolutionChanges ?? 0) + 1;
    const gone = this.lastTracked === null ? [] : [...this.lastTracked.tracks, ...this.lastTracked.lost].map((t) => t.id);
    this.lastTracked = null;
    this.closeAll(this.lastTs, 'stream_changed');
    this.opts.tracker?.reset();
    const px = this.opts.rules.filter((r) => (r as { config?: { units?: unknown } }).config?.units === 'px').map((r) => r.id);
    const ref = `${this.reference.width}x${this.reference.height}`;
    if (px.length > 0) {
      this.stats.geometryNote = `the camera changed its resolution to ${width}x${height}; rules ${px.join(', ')} use px units and `
        + `were rescaled from ${ref}, taken as the size they were drawn for; set units: norm on them to make them independent of the resolution`;
    }
    this.opts.log.warn({
      stream: this.opts.streamId, from: `${before.width}x${before.height}`, to: `${width}x${height}`, tracksEnded: gone.length,
      ...(px.length > 0 ? { pxRules: px, pxReference: ref } : {}),
    }, px.length > 0
      ? 'camera resolution changed: tracker reset, px-unit rules rescaled from the first size (set units: norm to make them independent of it)'
      : 'camera resolution changed: tracker reset');
    if (gone.length === 0) return;
    const input: RuleInput = {
      ts: frame.ts, detections: [], tracks: [], lost: [], removed: gone, sourceWidth: width, sourceHeight: height, pxReference: this.reference,
    };
    for (const rule of this.opts.rules) {
      for (const out of rule.evaluate(input)) this.apply(rule.id, out);
    }
  }

  /**
   * Throttled updates of open activities, with the track's box as seen in this frame. Only tracked
   * activities get them: a zone-wide activity has no object of its own here (which tracks count is
   * the rule's business), and a track missed in this frame waits for its next sighting rather than
   * send a predicted box.
   */
  private sendUpdates(frame: Frame, tracks: readonly TrackedObject[]): void {
    const sink = this.opts.sink;
    if (!sink.update || this.open.size === 0) return;
    const ts = frame.ts;
    const interval = this.opts.updateIntervalMs ?? 30_000;
    for (const activity of this.open.values()) {
      if (activity.trackId === undefined || ts - activity.sentTs < interval) continue;
      const track = tracks.find((t) => t.id === activity.trackId);
      if (!track) continue;
      activity.sentTs = ts;
      try {
        sink.update({ eventId: activity.eventId, ruleId: activity.ruleId, streamId: this.opts.streamId, ts, objects: [asObject(track)],
          size: { width: frame.sourceWidth, height: frame.sourceHeight } });
      } catch (err) {
        this.stats.eventErrors += 1;
        this.opts.log.error({ stream: this.opts.streamId, rule: activity.ruleId, event: activity.eventId, err: errorMessage(err) }, 'activity update could not be stored');
      }
    }
  }

  /**
   * One event per activity: a start is stored (and sent) once, and its end updates that same
   * event. An end whose start was never stored (the store failed, or the schedule held it) is
   * dropped here rather than invented.
   */
  private apply(ruleId: string, out: RuleOutput): void {
    switch (out.type) {
      case 'instant':
        this.emit(out.hit);
        return;
      case 'start': {
        const eventId = this.emit(out.hit, true);
        if (eventId !== null) {
          this.open.set(`${ruleId}\0${out.key}`, { eventId, ruleId, startedTs: out.hit.ts, trackId: trackOf(out.hit.facts), sentTs: out.hit.ts });
          this.stats.openActivities = this.open.size;
        }
        return;
      }
      case 'end': {
        const key = `${ruleId}\0${out.key}`;
        const activity = this.open.get(key);
        if (!activity) return;
        this.open.delete(key);
        this.finish(activity, out.ts, out.reason, out.details);
      }
    }
  }

  /** A stream that ends leaves nothing open: the last frame seen is when its activities ended. */
  private closeAll(ts: number, reason: EndReason): void {
    const open = [...this.open.values()];
    this.open.clear();
    for (const activity of open) this.finish(activity, ts, reason);
  }

  private finish(activity: OpenActivity, ts: number, reason: EndReason,
    details?: ActivityEndFacts): void {
    this.stats.endedActivities += 1;
    this.stats.openActivities = this.open.size;
    const end = { eventId: activity.eventId, ruleId: activity.ruleId, streamId: this.opts.streamId, startedTs: activity.startedTs, ts, reason,
      ...(details !== undefined ? { details } : {}) };
    this.opts.log.info({ event: end.eventId, stream: end.streamId, rule: end.ruleId, reason, duration_s: (ts - activity.startedTs) / 1000 }, 'activity ended');
    try {
      this.opts.sink.end?.(end);
    } catch (err) {
      this.stats.eventErrors += 1;
      this.opts.log.error({ stream: end.streamId, rule: end.ruleId, event: end.eventId, err: errorMessage(err) }, 'activity end could not be stored');
    }
  }

  private async infer(frame: Frame, regionJob: RegionJob | null): Promise<Detection[] | null> {
    const started = performance.now();
    this.stats.pendingInferences += 1;
    try {
      const detections = regionJob === null ? await this.opts.detector!.detect(frame)
        : await this.opts.regions!.detect(frame, regionJob, this.opts.detector!);
      const ms = performance.now() - started;
      this.stats.inferenceMs = this.stats.inferences === 0 ? ms : 0.9 * this.stats.inferenceMs + 0.1 * ms;
      this.stats.inferences += 1;
      this.recent.inferenceMs.push(ms);
      this.stats.lastDetections = detections.length;
      return detections;
    } catch (err) {
      if (err instanceof FrameSkipped) {
        this.stats.skippedFrames += 1;
        this.opts.gate?.missed();
        return null;
      }
      this.stats.inferenceErrors += 1;
      // One line per power of two keeps a persistently failing model from flooding the journal.
      const n = this.stats.inferenceErrors;
      if ((n & (n - 1)) === 0) {
        this.opts.log.error({ stream: this.opts.streamId, errors: n, err: errorMessage(err) }, 'inference failed');
      }
      return null;
    } finally {
      this.stats.pendingInferences -= 1;
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
      facts: { kind: 'motion' }, ruleId: 'motion', streamId: this.opts.streamId, severity: 'info', ts: frame.ts,
      objects: regions.map((r) => ({
        classId: -1, label: 'motion', score, box: [r.x, r.y, r.x + r.width, r.y + r.height] as Detection['box'],
      })),
    });
  }

  private emit(hit: RuleHit, opens = false): string | null {
    try {
      const id = this.opts.sink.record({ ...hit, ...this.current }, opens);
      this.stats.events += 1;
      this.opts.log.info({
        event: id, stream: hit.streamId, rule: hit.ruleId, severity: hit.severity,
        activity: triggerOf(hit.facts), ...(trackOf(hit.facts) !== undefined ? { track: trackOf(hit.facts) } : {}),
        objects: hit.objects.map((o) => `${o.label} ${o.score.toFixed(2)}`),
      }, 'event');
      return id;
    } catch (err) {
      // The frame path goes on; a store that cannot write is reported by its own health check.
      this.stats.eventErrors += 1;
      this.opts.log.error({ stream: hit.streamId, rule: hit.ruleId, err: errorMessage(err) }, 'event could not be stored');
      return null;
    }
  }
}
