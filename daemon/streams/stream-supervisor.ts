import { buildRule, usesTracks, type EndReason, type Rule } from '../analytics/rules/index.js';
import { Tracker } from '../analytics/tracker/index.js';
import { StreamAnalyzer, type AnalyzerStats, type FrameObserver, type LatestObjects } from '../analytics/stream-analyzer.js';
import type { EventSink } from '../analytics/ports.js';
import { motionGateFor, schedulerLaneOptions } from '../analytics/throughput-config.js';
import { regionPassFor } from '../analytics/regions/region-config.js';
import type { RuleConfig, StreamConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { tapFrames } from '../learning/frame-tap.js';
import { withDeadline } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { ModelRegistry } from '../models/model-registry.js';
import { MotionDetector } from '../motion/motion-detector.js';
import type { DaemonParts } from '../parts.js';
import { STOP_DEADLINE_MS, stopOne } from '../services.js';
import type { StateInfo } from '../uplink/uplink.js';
import type { Percentiles } from '../util/sample-ring.js';
import type { AccessUnitListener } from '../video/access-unit.js';
import type { StreamStatus } from '../video/frame.js';
import type { FullFrame } from '../video/full-frame.js';
import { MOTION_ONLY_ANALYSIS, type AnalysisSize } from '../video/pipeline.js';
import { ProcessIsolation } from '../video/isolated-pipeline.js';
import { StreamHost } from '../video/isolated-server.js';
import { VideoStream } from '../video/stream.js';
import { AppearanceLooks } from './appearance-looks.js';
import { fullFramesWanted } from './full-frame-need.js';

interface RunningStream {
  config: StreamConfig;
  video: VideoStream;
  analyzer: StreamAnalyzer;
  model: string | null;
  done: Promise<void>;
  /** Rule objects with the config each was built from, so a live change keeps the unchanged ones (and their state). */
  rules: { config: RuleConfig; rule: Rule }[];
  tracker: Tracker | null;
}

/** A stream's line in the daemon status; see AppStatus in status/app-status.ts. */
export type StreamLine = StreamStatus & {
  model: string | null; provider: string | null; analysis: AnalyzerStats;
  latency: { inferenceMs: Percentiles | null; endToEndMs: Percentiles | null };
};

/**
 * The running streams: each a video pipeline and its analysis loop (motion, inference through its
 * model's scheduler, tracker, rules) writing to the event sink. Streams start and stop one by one
 * (at start, and live through daemon/manage/); one that fails is logged and the others go on.
 */
export class StreamSupervisor {
  private readonly streams: RunningStream[] = [];
  /** Aborted first at stop: the analysis loops end between two frames. */
  private readonly running = new AbortController();
  /**
   * Access-unit listeners by stream id, kept here so that they outlive the stream's VideoStream
   * (a live config change replaces it): each new one gets them, and its branch from the start.
   */
  private readonly auListeners = new Map<string, Set<AccessUnitListener>>();
  /** Frame observers by stream id (calibration sampling), handed on to a stream's replacement. */
  private readonly frameObservers = new Map<string, FrameObserver>();
  /** The tracker's appearance cue, for the streams that turn it on (one OSNet session for all). */
  private readonly looks: AppearanceLooks;
  /** The process isolated streams are forked from (one for all: each shares its pages), started with the first. */
  private streamHost: StreamHost | null = null;

  constructor(private readonly parts: DaemonParts, private readonly models: ModelRegistry,
    private readonly sink: EventSink, private readonly rootLog: Logger, private readonly log: Logger) {
    this.looks = new AppearanceLooks(parts.cfg.learning.embedding_model, parts.cfg.inference.threads,
      rootLog.child({ component: 'analytics' }));
  }

  /** The enabled streams of the running config, in order. */
  async start(signal: AbortSignal): Promise<void> {
    for (const stream of this.parts.cfg.streams.filter((s) => s.enabled)) {
      signal.throwIfAborted();
      await this.startStream(stream, signal);
    }
  }

  private async startStream(config: StreamConfig, signal: AbortSignal): Promise<void> {
    const detector = config.model !== undefined ? this.models.detector(config.model) : null;
    const ruleConfigs = this.parts.cfg.rules.filter((r) => r.stream === config.id);
    const ruleSet = ruleConfigs.map((c) => ({ config: c, rule: buildRule(c) }));
    const rules = ruleSet.map((r) => r.rule);
    const tracker = ruleConfigs.some(usesTracks) ? new Tracker(config.tracker) : null;
    if (detector === null && rules.length > 0) {
      this.log.warn({ stream: config.id, rules: rules.map((r) => r.id) },
        'stream has rules but no working model: the rules cannot fire');
    }
    let analysis: AnalysisSize = MOTION_ONLY_ANALYSIS;
    if (detector) {
      const size = detector.inputSize();
      analysis = { width: size.width, height: size.height, resize: size.letterbox ? 'fit' : 'stretch', format: 'BGRx' };
    }
    const listeners = this.auListeners.get(config.id);
    // Isolated: decoding in a child process of the stream's own (docs/process-isolation.md).
    const isolated = (config.isolation ?? this.parts.cfg.video.isolation) === 'process';
    const host = isolated ? new ProcessIsolation({
      log: this.rootLog.child({ component: 'video', stream: config.id }), loop: config.loop,
      server: this.streamHost ??= new StreamHost(this.rootLog.child({ component: 'video' })),
    }) : undefined;
    const video = new VideoStream(config, {
      log: this.rootLog, analysis, accessUnits: listeners !== undefined && listeners.size > 0, ...(host ? { host } : {}),
      fullFrames: fullFramesWanted(this.parts.cfg, config.id),
    });
    if (listeners !== undefined && listeners.size > 0) this.relayAccessUnits(video, listeners);
    const learning = this.parts.learning;
    const look = await this.looks.lookFor(config);
    const analyzer = new StreamAnalyzer({
      streamId: config.id, source: learning ? tapFrames(video, (f) => this.parts.learning?.noteFrame(f)) : video, rules, sink: this.sink,
      detector: detector && config.model !== undefined ? this.models.scheduler(config.model)?.lane(schedulerLaneOptions(config)) ?? detector : null,
      gate: motionGateFor(config),
      regions: detector && config.model !== undefined ? regionPassFor(config, detector.inputSize(), () => video.latestFullFrame(),
        () => this.models.scheduler(config.model!)?.lane({ ...schedulerLaneOptions(config), streamId: `${config.id}/regions`, priority: 'low' })) : null,
      // Two frames in flight keep a worker-thread model busy while this loop handles the last one.
      pipelineDepth: detector?.pipelineDepth ?? 1,
      tracker,
      look,
      motion: config.motion.enabled ? new MotionDetector({ threshold: config.motion.threshold, minArea: config.motion.min_area }) : null,
      log: this.rootLog.child({ component: 'analytics', stream: config.id }),
      updateIntervalMs: config.activity_update_s * 1000,
    });
    analyzer.frameObserver = this.frameObservers.get(config.id) ?? null;
    await video.start(signal);
    const done = analyzer.run(this.running.signal).catch((err: unknown) => {
      this.log.error({ stream: config.id, err: errorMessage(err) }, 'analysis loop ended with an error');
    });
    this.streams.push({ config, video, analyzer, model: detector ? config.model ?? null : null, done, rules: ruleSet, tracker });
  }

  /** Starts a stream of the running config (after `adopt`), loading its model first if need be. */
  async startConfigured(id: string): Promise<void> {
    const { cfg } = this.parts;
    const config = cfg.streams.find((s) => s.id === id);
    if (!config || this.streams.some((s) => s.config.id === id)) return;
    const ref = config.model !== undefined ? cfg.models.find((m) => m.name === config.model) : undefined;
    if (ref) await this.models.ensure(ref);
    await this.startStream(config, this.running.signal);
    this.parts.uplink?.publishState();
  }

  async stopStream(id: string, reason: EndReason): Promise<boolean> {
    const i = this.streams.findIndex((s) => s.config.id === id);
    const s = this.streams[i];
    if (s === undefined) return false;
    this.streams.splice(i, 1);
    s.analyzer.setRules([], { reason });
    await s.video.stop();
    await withDeadline(STOP_DEADLINE_MS, `analysis of stream ${id} to end`, () => s.done).catch((err: unknown) =>
      this.log.warn({ stream: id, err: errorMessage(err) }, 'stream removed; its analysis is still finishing a frame'));
    this.parts.uplink?.publishState();
    return true;
  }

  /** Hands a running stream's analyzer its rules from the running config, keeping the unchanged ones. */
  refreshRules(streamId: string): void {
    const s = this.streams.find((r) => r.config.id === streamId);
    if (!s) return;
    const configs = this.parts.cfg.rules.filter((r) => r.stream === streamId);
    const same = (a: RuleConfig, b: RuleConfig): boolean => JSON.stringify(a) === JSON.stringify(b);
    s.rules = configs.map((c) => s.rules.find((r) => same(r.config, c)) ?? { config: c, rule: buildRule(c) });
    const tracker = configs.some(usesTracks) ? s.tracker ?? new Tracker(s.config.tracker) : null;
    s.tracker = tracker;
    s.analyzer.setRules(s.rules.map((r) => r.rule), { tracker });
    // A rule whose events now get snapshots needs the full-resolution branch from its first event.
    s.video.setFullFrames(fullFramesWanted(this.parts.cfg, streamId));
  }

  /**
   * Every access unit of stream `id` (see VideoStream.onAccessUnit), also across its restarts and
   * its replacement by a live change; a stream not running yet gets the listener when it starts.
   * Subscribing before the streams start spares a running stream the restart that adds the branch.
   */
  onAccessUnit(id: string, listener: AccessUnitListener): () => void {
    let set = this.auListeners.get(id);
    if (set === undefined) {
      set = new Set();
      this.auListeners.set(id, set);
    }
    const first = set.size === 0;
    set.add(listener);
    const running = this.streams.find((s) => s.config.id === id);
    if (first && running) this.relayAccessUnits(running.video, set);
    return () => { set.delete(listener); };
  }

  /** One relay per VideoStream; it reads the live set, so later listeners need no new relay. */
  private relayAccessUnits(video: VideoStream, set: ReadonlySet<AccessUnitListener>): void {
    if (this.relayed.has(video)) return;
    this.relayed.add(video);
    video.onAccessUnit((au) => {
      for (const l of set) {
        try {
          l(au);
        } catch (err) {
          this.log.warn({ stream: au.streamId, err: errorMessage(err) }, 'access-unit listener threw');
        }
      }
    });
  }

  private readonly relayed = new WeakSet<VideoStream>();

  /**
   * Every concluded analysis frame of stream `id` with its motion and detections, also across a
   * restart or replacement of the stream, until the returned function is called. One observer per
   * stream: a second replaces the first.
   */
  observeFrames(id: string, observer: FrameObserver): () => void {
    this.frameObservers.set(id, observer);
    const running = this.streams.find((s) => s.config.id === id);
    if (running) running.analyzer.frameObserver = observer;
    return () => {
      if (this.frameObservers.get(id) !== observer) return;
      this.frameObservers.delete(id);
      const now = this.streams.find((s) => s.config.id === id);
      if (now && now.analyzer.frameObserver === observer) now.analyzer.frameObserver = null;
    };
  }

  isRunning(id: string): boolean {
    return this.streams.some((s) => s.config.id === id);
  }

  /** The newest decoded frame of stream `id` at the camera's size (a copy, made now); null when none. */
  latestFullFrame(id: string): FullFrame | null {
    return this.streams.find((s) => s.config.id === id)?.video.latestFullFrame() ?? null;
  }

  /**
   * Makes stream `id` keep full frames for a snapshot asked for by hand (`vigilctl snapshot`):
   * where nothing else needs the branch it is added (one pipeline restart) and kept until the
   * stream restarts. `'had'`: it was there; `'added'`: added and a frame came; `'timeout'`: added,
   * but no frame within `timeoutMs`; `'not running'`: no such stream runs.
   */
  async ensureFullFrames(id: string, timeoutMs: number): Promise<'had' | 'added' | 'timeout' | 'not running'> {
    const video = this.streams.find((s) => s.config.id === id)?.video;
    if (!video) return 'not running';
    const had = video.keepsFullFrames;
    if (!had) this.log.info({ stream: id }, 'snapshot asked: adding the full-resolution branch, which nothing else of this stream needs');
    if (await video.whenFullFrames(timeoutMs)) return had ? 'had' : 'added';
    return 'timeout';
  }

  /** What stream `id`'s newest analysed frame showed (tracks or detections), for the console's overlay; null before one. */
  latestObjects(id: string): LatestObjects | null {
    return this.streams.find((s) => s.config.id === id)?.analyzer.latestObjects() ?? null;
  }

  streamStatus(id: string): StreamStatus | null {
    return this.streams.find((s) => s.config.id === id)?.video.status() ?? null;
  }

  /** Each stream's line in the retained state message. */
  states(): StateInfo['streams'] {
    return this.streams.map((s) => {
      const st = s.video.status();
      const provider = this.models.provider(s.model);
      return { id: s.config.id, state: st.state, ...(st.decoder ? { decoder: st.decoder } : {}), ...(provider ? { provider } : {}) };
    });
  }

  status(): StreamLine[] {
    return this.streams.map((s) => ({
      ...s.video.status(), model: s.model,
      provider: this.models.provider(s.model),
      analysis: { ...s.analyzer.stats },
      latency: { inferenceMs: s.analyzer.recent.inferenceMs.percentiles(), endToEndMs: s.analyzer.recent.endToEndMs.percentiles() },
    }));
  }

  /** Each stream's time after inference (tracker, rules, store), for the benchmark. */
  profiles(): { id: string; afterInferenceMs: Percentiles | null; eventFrameMs: Percentiles | null }[] {
    return this.streams.map((s) => ({
      id: s.config.id, afterInferenceMs: s.analyzer.recent.afterInferenceMs.percentiles(), eventFrameMs: s.analyzer.recent.eventFrameMs.percentiles(),
    }));
  }

  /** First of the stop: the analysis loops end after their frame, before anything they write to stops. */
  halt(): void {
    this.running.abort();
  }

  /** Every stream side by side, each with its own deadline. */
  async stop(): Promise<void> {
    await Promise.all(this.streams.map((s) => stopOne(`stream ${s.config.id}`, async () => {
      await s.video.stop();
      await s.done;
    }, this.log)));
    await this.looks.close();
  }
}
