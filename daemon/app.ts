import path from 'node:path';
import { buildRule, usesTracks, type RuleHit } from './analytics/rules/index.js';
import { Tracker } from './analytics/tracker/index.js';
import { StreamAnalyzer } from './analytics/stream-analyzer.js';
import type { ActivityEnd, ActivityUpdate, EventSink } from './analytics/ports.js';
import type { Config, StreamConfig } from './config/schema.js';
import { ControlSocket } from './control/socket-server.js';
import { errorMessage } from './errors.js';
import { loadDetector, type Detector } from './inference/detector.js';
import { withDeadline } from './lifecycle.js';
import type { Logger } from './log.js';
import { MotionDetector } from './motion/motion-detector.js';
import { EventStore } from './store/event-store.js';
import type { StorageStatus } from './store/types.js';
import { alertOutbox } from './uplink/alert-message.js';
import { storageOutbox } from './uplink/storage-message.js';
import { TelemetryService } from './telemetry/telemetry-service.js';
import type { TelemetryPayload } from './uplink/payloads.js';
import type { Percentiles } from './util/sample-ring.js';
import type { ProtocolVersion } from './uplink/client-options.js';
import { Uplink, type StateInfo, type UplinkStatus } from './uplink/uplink.js';
import type { StreamStatus } from './video/frame.js';
import { MOTION_ONLY_ANALYSIS, type AnalysisSize } from './video/pipeline.js';
import { VideoStream } from './video/stream.js';
import { VERSION } from './version.js';
import type { AnalyzerStats } from './analytics/stream-analyzer.js';
import { tapFrames } from './learning/frame-tap.js';
import { LearningService } from './learning/learning-service.js';
import { reviewLabels } from './learning/review-labels.js';

export interface AppOptions {
  /** 4 for the demo's embedded broker, which speaks only MQTT 3.1.1. */
  protocolVersion?: ProtocolVersion;
  /** How often a summary of every stream is logged; 0 disables it. */
  statsIntervalMs?: number;
}

interface RunningStream {
  config: StreamConfig;
  video: VideoStream;
  analyzer: StreamAnalyzer;
  model: string | null;
  done: Promise<void>;
}

export interface AppStatus {
  version: string;
  device: { id: string; site: string };
  streams: (StreamStatus & {
    model: string | null; provider: string | null; analysis: AnalyzerStats;
    latency: { inferenceMs: Percentiles | null; endToEndMs: Percentiles | null };
  })[];
  models: { name: string; provider: string | null; error: string | null }[];
  uplink: UplinkStatus | null;
  storage: StorageStatus | null;
  /** The newest health report sent to the hub; absent before the first (one per `telemetry.interval_s`). */
  telemetry?: TelemetryPayload;
}

/**
 * The composition root: builds every service from the config and hands each its part of it.
 * Data flows one way — video → analysis (motion, inference, rules) → store → uplink — and the
 * order of start is the reverse of that flow, so that nothing produces before its consumer exists.
 * One bad model or stream is logged and left out; it never stops the others.
 */
export class App {
  private store: EventStore | null = null;
  private uplink: Uplink | null = null;
  private control: ControlSocket | null = null;
  private telemetry: TelemetryService | null = null;
  private learning: LearningService | null = null;
  private readonly detectors = new Map<string, Detector>();
  private readonly modelErrors = new Map<string, string>();
  private readonly streams: RunningStream[] = [];
  private readonly running = new AbortController();
  private statsTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(private readonly cfg: Config, private readonly rootLog: Logger, private readonly opts: AppOptions = {}) {
    this.log = rootLog.child({ component: 'app' });
  }

  async start(signal: AbortSignal): Promise<void> {
    const { cfg } = this;
    // recover: a corrupt database is moved aside and reported instead of failing every restart.
    const store = EventStore.open(cfg.storage.dir, {
      recover: true, budgetBytes: cfg.storage.max_db_mb * 1024 * 1024, notices: storageOutbox(cfg.device),
      log: this.rootLog.child({ component: 'store' }),
    });
    this.store = store;
    this.log.info({ db: path.join(cfg.storage.dir, 'vigil.db') }, 'event store open');

    this.uplink = new Uplink({
      config: cfg.mqtt, device: cfg.device, outbox: store, log: this.rootLog.child({ component: 'uplink' }),
      state: () => this.stateInfo(),
      ...(this.opts.protocolVersion !== undefined ? { protocolVersion: this.opts.protocolVersion } : {}),
    });
    await this.uplink.start(signal);
    signal.throwIfAborted();

    // Right after the uplink, whose outbox its reports go through; it reads everything else through status().
    this.telemetry = new TelemetryService({
      config: cfg.telemetry, device: cfg.device, status: () => this.status(), outbox: store,
      onQueued: () => this.uplink?.notify(), diskPath: cfg.storage.dir, log: this.rootLog.child({ component: 'telemetry' }),
    });
    await this.telemetry.start(signal);
    signal.throwIfAborted();

    if (cfg.learning.enabled) await this.startLearning(store, signal);

    await this.loadModels(signal);
    for (const stream of cfg.streams.filter((s) => s.enabled)) {
      signal.throwIfAborted();
      await this.startStream(stream, signal);
    }
    await this.startControl();
    this.uplink.publishState();
    const every = this.opts.statsIntervalMs ?? 30_000;
    if (every > 0) {
      this.statsTimer = setInterval(() => this.logStats(), every);
      this.statsTimer.unref();
    }
  }

  /**
   * Last to start: vigilctl should only reach a daemon that is running. A second daemon on the same
   * socket (and so, likely, the same database) refuses to start; any other socket problem (e.g. no
   * /run/vigil) costs local management only, never the video.
   */
  private async startControl(): Promise<void> {
    if (!this.cfg.control.enabled) return;
    const control = new ControlSocket(this.cfg.control.socket, {
      status: () => this.status(),
      listEvents: ({ stream, limit }) => {
        if (!this.store) throw new Error('event store is closed');
        return this.store.listEvents({ limit, ...(stream !== undefined ? { stream } : {}) });
      },
      ...(this.learning ? { flStatus: () => this.learning?.status() } : {}),
    }, this.rootLog.child({ component: 'control' }));
    try {
      await control.start();
      this.control = control;
    } catch (err) {
      if (errorMessage(err).startsWith('another process answers')) throw err;
      this.log.error({ socket: this.cfg.control.socket, err: errorMessage(err) }, 'control socket unavailable: vigilctl cannot reach this daemon');
    }
  }

  /** Federated learning costs only itself when it cannot start (unreadable keys): the video goes on. */
  private async startLearning(store: EventStore, signal: AbortSignal): Promise<void> {
    const uplink = this.uplink;
    if (!uplink) return;
    try {
      const learning = await LearningService.create({
        config: this.cfg, store, labels: reviewLabels(store), feed: uplink, notify: () => uplink.notify(),
        log: this.rootLog.child({ component: 'learning' }),
      });
      this.learning = learning;
      await learning.start(signal);
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'federated learning unavailable');
    }
  }

  private async loadModels(signal: AbortSignal): Promise<void> {
    const used = new Set(this.cfg.streams.filter((s) => s.enabled).map((s) => s.model));
    for (const ref of this.cfg.models) {
      signal.throwIfAborted();
      if (!used.has(ref.name)) continue;
      try {
        const detector = await loadDetector({
          name: ref.name, manifestPath: ref.manifest, modelsDir: this.cfg.models_dir,
          providers: ref.providers ?? this.cfg.inference.providers, threads: this.cfg.inference.threads,
          engineCacheDir: path.join(this.cfg.storage.dir, 'tensorrt'),
        }, this.rootLog.child({ component: 'inference', model: ref.name }));
        this.detectors.set(ref.name, detector);
        this.log.info({ model: ref.name, family: detector.info.family, provider: detector.info.provider,
          input: `${detector.info.inputWidth}x${detector.info.inputHeight}` }, 'model loaded');
      } catch (err) {
        this.modelErrors.set(ref.name, errorMessage(err));
        this.log.error({ model: ref.name, manifest: ref.manifest, err: errorMessage(err) },
          'model unusable: its streams run with motion detection only');
      }
    }
  }

  private async startStream(config: StreamConfig, signal: AbortSignal): Promise<void> {
    const detector = config.model !== undefined ? this.detectors.get(config.model) ?? null : null;
    const ruleConfigs = this.cfg.rules.filter((r) => r.stream === config.id);
    const rules = ruleConfigs.map(buildRule);
    if (detector === null && rules.length > 0) {
      this.log.warn({ stream: config.id, rules: rules.map((r) => r.id) },
        'stream has rules but no working model: the rules cannot fire');
    }
    let analysis: AnalysisSize = MOTION_ONLY_ANALYSIS;
    if (detector) {
      const size = detector.inputSize();
      analysis = { width: size.width, height: size.height, resize: size.letterbox ? 'fit' : 'stretch', format: 'BGRx' };
    }
    const video = new VideoStream(config, { log: this.rootLog, analysis });
    const analyzer = new StreamAnalyzer({
      streamId: config.id, source: this.learning ? tapFrames(video, (f) => this.learning?.noteFrame(f)) : video, detector, rules, sink: this.sink,
      tracker: ruleConfigs.some(usesTracks) ? new Tracker(config.tracker) : null,
      motion: config.motion.enabled ? new MotionDetector({ threshold: config.motion.threshold, minArea: config.motion.min_area }) : null,
      log: this.rootLog.child({ component: 'analytics', stream: config.id }),
      updateIntervalMs: config.activity_update_s * 1000,
    });
    await video.start(signal);
    const done = analyzer.run(this.running.signal).catch((err: unknown) => {
      this.log.error({ stream: config.id, err: errorMessage(err) }, 'analysis loop ended with an error');
    });
    this.streams.push({ config, video, analyzer, model: detector ? config.model ?? null : null, done });
  }

  private readonly sink: EventSink = {
    record: (hit: RuleHit, opens?: boolean): string => {
      const store = this.store;
      if (!store) throw new Error('event store is closed');
      // The verifier may hold the upstream alert until it has scored the event (see AlertScreen).
      const input = this.learning?.eventInput(hit);
      const held = this.learning?.screen.holds(input !== undefined, input?.frame) ?? false;
      const toOutbox = alertOutbox(this.cfg.device, opens ? { activity: 'start' } : {});
      const event = store.recordEvent({
        ts: hit.ts, stream: hit.streamId, rule: hit.ruleId, severity: hit.severity, kind: hit.kind,
        payload: {
          objects: hit.objects.map(({ label, score, box }) => ({ label, score, box })),
          ...(hit.activity !== undefined ? { activity: hit.activity } : {}),
          ...(hit.trackId !== undefined ? { track_id: hit.trackId } : {}),
          ...hit.details,
        },
      }, held ? undefined : toOutbox);
      if (input) this.learning?.screen.onEvent(event.id, input.frame, input.context, held ? toOutbox : null);
      this.uplink?.notify();
      return event.id;
    },
    update: (update: ActivityUpdate): void => {
      if (this.learning?.screen.isSuppressed(update.eventId)) return;
      // Only the newest update matters: one still queued (an outage) is replaced, not added to.
      this.store?.enqueueForEvent(update.eventId, alertOutbox(this.cfg.device, {
        activity: 'update', ts: update.ts, objects: update.objects.map(({ label, score, box }) => ({ label, score, box })),
      }), { supersede: ['update'] });
      this.uplink?.notify();
    },
    end: (end: ActivityEnd): void => {
      if (this.learning?.screen.isSuppressed(end.eventId)) {
        this.store?.mergePayload(end.eventId, { ended_at: new Date(end.ts).toISOString(), duration_s: (end.ts - end.startedTs) / 1000, end_reason: end.reason });
        return;
      }
      // Merged and queued together, so the stored event and the hub's copy cannot disagree; an
      // update still queued is obsolete once the end is.
      this.store?.enqueueForEvent(end.eventId, alertOutbox(this.cfg.device, { activity: 'end', ts: end.ts }), {
        merge: { ended_at: new Date(end.ts).toISOString(), duration_s: (end.ts - end.startedTs) / 1000, end_reason: end.reason, ...end.details },
        supersede: ['update'],
      });
      this.uplink?.notify();
    },
  };

  private stateInfo(): StateInfo {
    const providers = [...new Set([...this.detectors.values()].map((d) => d.info.provider))];
    return {
      version: VERSION,
      providers,
      streams: this.streams.map((s) => {
        const st = s.video.status();
        const provider = s.model !== null ? this.detectors.get(s.model)?.info.provider : undefined;
        return { id: s.config.id, state: st.state, ...(st.decoder ? { decoder: st.decoder } : {}), ...(provider ? { provider } : {}) };
      }),
    };
  }

  status(): AppStatus {
    return {
      version: VERSION,
      device: this.cfg.device,
      streams: this.streams.map((s) => ({
        ...s.video.status(), model: s.model,
        provider: s.model !== null ? this.detectors.get(s.model)?.info.provider ?? null : null,
        analysis: { ...s.analyzer.stats },
        latency: { inferenceMs: s.analyzer.recent.inferenceMs.percentiles(), endToEndMs: s.analyzer.recent.endToEndMs.percentiles() },
      })),
      models: this.cfg.models.map((m) => ({
        name: m.name, provider: this.detectors.get(m.name)?.info.provider ?? null, error: this.modelErrors.get(m.name) ?? null,
      })),
      uplink: this.uplink?.status() ?? null,
      storage: this.store?.storageStatus() ?? null,
      ...(this.telemetry?.latest ? { telemetry: this.telemetry.latest } : {}),
    };
  }

  private logStats(): void {
    for (const s of this.status().streams) {
      this.log.info({ stream: s.id, state: s.state, decoder: s.decoder, fps: Number(s.fps.toFixed(2)), pulled: s.framesPulled,
        dropped: s.framesDropped, analysed: s.analysis.framesAnalysed, inference_ms: Number(s.analysis.inferenceMs.toFixed(1)),
        events: s.analysis.events, restarts: s.restarts }, 'stream stats');
    }
  }

  /** Reverse order of start; each part gets its own try/catch and deadline so one cannot block the rest. */
  async stop(): Promise<void> {
    clearInterval(this.statsTimer);
    this.running.abort();
    const control = this.control;
    this.control = null;
    if (control) await control.stop().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'stop: control socket failed'));
    const attempt = async (what: string, fn: () => Promise<void> | void): Promise<void> => {
      try {
        await withDeadline(2000, what, async () => { await fn(); });
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, `stop: ${what} failed`);
      }
    };
    await Promise.all(this.streams.map((s) => attempt(`stream ${s.config.id}`, async () => {
      await s.video.stop();
      await s.done;
    })));
    await Promise.all([...this.detectors.values()].map((d) => attempt(`model ${d.info.name}`, () => d.close())));
    if (this.learning) await attempt('learning', () => this.learning?.stop());
    if (this.telemetry) await attempt('telemetry', () => this.telemetry?.stop());
    if (this.uplink) await attempt('uplink', () => this.uplink?.stop());
    if (this.store) await attempt('event store', () => this.store?.close());
    this.store = null;
  }
}
