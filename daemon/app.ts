import path from 'node:path';
import { buildRule, usesTracks, type EndReason, type Rule, type RuleHit } from './analytics/rules/index.js';
import { Tracker } from './analytics/tracker/index.js';
import { StreamAnalyzer } from './analytics/stream-analyzer.js';
import type { ActivityEnd, ActivityUpdate, EventSink } from './analytics/ports.js';
import type { PathOverrides } from './config/load.js';
import type { Config, ModelRef, RuleConfig, StreamConfig } from './config/schema.js';
import { LiveManager, type LiveTarget } from './manage/live-manager.js';
import type { LogRing } from './manage/log-ring.js';
import { ControlSocket } from './control/socket-server.js';
import { AUDIT_EVENT_KIND, Auditor } from './control/audit.js';
import { Authoriser } from './control/authoriser.js';
import { MqttCommands } from './control/mqtt-commands.js';
import { NonceCache } from './control/nonce-cache.js';
import { auditOutbox } from './uplink/audit-message.js';
import { errorMessage } from './errors.js';
import type { Detector, DetectorProfile } from './inference/detector.js';
import { InferenceScheduler, type LaneStats } from './inference/scheduler.js';
import { motionGateFor, schedulerLaneOptions } from './analytics/throughput-config.js';
import { withDeadline } from './lifecycle.js';
import type { Logger } from './log.js';
import { MotionDetector } from './motion/motion-detector.js';
import { EventStore } from './store/event-store.js';
import { DATABASE_FILE } from './store/open.js';
import { StoreWriter } from './store/store-writer.js';
import { storageState } from './uplink/storage-message.js';
import type { StorageStatus } from './store/types.js';
import { alertOutbox } from './uplink/alert-message.js';
import { endMerge, endOptions, eventOf, startOptions, updateOptions } from './events/event-record.js';
import { storageOutbox } from './uplink/storage-message.js';
import { TestAlerts } from './uplink/test-alert.js';
import { TelemetryService } from './telemetry/telemetry-service.js';
import type { TelemetryPayload } from './uplink/payloads.js';
import type { Percentiles } from './util/sample-ring.js';
import type { ProtocolVersion } from './uplink/client-options.js';
import { Uplink, type StateInfo, type UplinkStatus } from './uplink/uplink.js';
import type { StreamStatus } from './video/frame.js';
import { MOTION_ONLY_ANALYSIS, type AnalysisSize } from './video/pipeline.js';
import { VideoStream } from './video/stream.js';
import { VERSION } from './version.js';
import { ModelManager } from './models/model-manager.js';
import { PackageError } from './models/package-error.js';
import { MODEL_EVENT_KIND, modelOutbox, type ModelNotice } from './uplink/model-message.js';
import type { ControlTarget } from './control/handler.js';
import type { Severity } from './config/schema.js';
import type { AnalyzerStats } from './analytics/stream-analyzer.js';
import { ResponseTiers, type TiersStatus } from './tiers/response-tiers.js';
import { EventReviews } from './tiers/event-reviews.js';
import { tapFrames } from './learning/frame-tap.js';
import { LearningService } from './learning/learning-service.js';
import { reviewLabels } from './learning/review-labels.js';

export interface AppOptions {
  /** 4 for the demo's embedded broker, which speaks only MQTT 3.1.1. */
  protocolVersion?: ProtocolVersion;
  /** How often a summary of every stream is logged; 0 disables it. */
  statsIntervalMs?: number;
  /** Live management (daemon/manage): the file changes are persisted to (null: in memory only), and the path overrides it was loaded with. */
  configFile?: string | null;
  overrides?: PathOverrides;
  /** Recent log lines for `logs.tail`. */
  logRing?: LogRing;
  /** Stops the daemon for its supervisor to start again (`restart` command); without it the command is refused. */
  onRestart?: () => void;
}

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

export interface AppStatus {
  version: string;
  device: { id: string; site: string };
  streams: (StreamStatus & {
    model: string | null; provider: string | null; analysis: AnalyzerStats;
    latency: { inferenceMs: Percentiles | null; endToEndMs: Percentiles | null };
  })[];
  /** version: the model store's active version ("config": the manifest vigil.yaml names); see docs/models.md. */
  models: {
    name: string; provider: string | null; error: string | null; version?: string | null;
    /**
     * The model's inference scheduler: runs, frames they carried (frames / runs is the mean batch),
     * batched runs that failed and were rerun frame by frame, frames one run may take, and the
     * inference worker's working time since the model (version) loaded, ms (null in process).
     */
    scheduler?: { runs: number; frames: number; batchFallbacks: number; maxBatch: number; busyMs: number | null };
  }[];
  uplink: UplinkStatus | null;
  storage: StorageStatus | null;
  /** The newest health report sent to the hub; absent before the first (one per `telemetry.interval_s`). */
  telemetry?: TelemetryPayload;
  /** Response tiers: p50/p99 per stage after inference, local actions, evidence snapshots. */
  tiers?: TiersStatus;
}

/**
 * The composition root: builds every service from the config and hands each its part of it.
 * Data flows one way — video → analysis (motion, inference, rules) → store → uplink — and the
 * order of start is the reverse of that flow, so that nothing produces before its consumer exists.
 * One bad model or stream is logged and left out; it never stops the others.
 */
export class App implements LiveTarget {
  private store: EventStore | null = null;
  /** The sink's way to the database: commits off the frame path, degraded mode when the disk fails. */
  private writer: StoreWriter | null = null;
  private uplink: Uplink | null = null;
  private control: ControlSocket | null = null;
  private remote: MqttCommands | null = null;
  private restartRequested = false;
  private telemetry: TelemetryService | null = null;
  private models: ModelManager | null = null;
  private testAlerts: TestAlerts | null = null;
  private tiers: ResponseTiers | null = null;
  private learning: LearningService | null = null;
  private readonly detectors = new Map<string, Detector>();
  /** One per loaded model: the streams using it take turns by priority (see inference/scheduler.ts). */
  private readonly schedulers = new Map<string, InferenceScheduler>();
  private readonly modelErrors = new Map<string, string>();
  private readonly streams: RunningStream[] = [];
  private readonly running = new AbortController();
  private statsTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(private cfg: Config, private readonly rootLog: Logger, private readonly opts: AppOptions = {}) {
    this.log = rootLog.child({ component: 'app' });
  }

  async start(signal: AbortSignal): Promise<void> {
    const { cfg } = this;
    // recover: a corrupt database is moved aside and reported instead of failing every restart.
    const store = EventStore.open(cfg.storage.dir, {
      recover: true, budgetBytes: cfg.storage.max_db_mb * 1024 * 1024, notices: storageOutbox(cfg.device),
      disk: { reserveBytes: cfg.storage.reserve_mb !== undefined ? cfg.storage.reserve_mb * 1024 * 1024 : null },
      log: this.rootLog.child({ component: 'store' }),
    });
    this.store = store;
    this.log.info({ db: path.join(cfg.storage.dir, 'vigil.db') }, 'event store open');
    this.writer = new StoreWriter({
      file: path.join(cfg.storage.dir, DATABASE_FILE), store, device: cfg.device, log: this.rootLog.child({ component: 'store' }),
      publisher: () => this.uplink, maxHeld: cfg.storage.degraded_queue,
      onStateChange: () => this.uplink?.publishState(),
    });

    this.uplink = new Uplink({
      config: cfg.mqtt, device: cfg.device, outbox: store, log: this.rootLog.child({ component: 'uplink' }),
      state: () => this.stateInfo(),
      ...(this.opts.protocolVersion !== undefined ? { protocolVersion: this.opts.protocolVersion } : {}),
    });
    await this.uplink.start(signal);
    signal.throwIfAborted();
    this.testAlerts = new TestAlerts({ store, uplink: this.uplink, device: cfg.device, log: this.rootLog.child({ component: 'test-alert' }) });
    this.testAlerts.start();

    // Right after the uplink, whose outbox its reports go through; it reads everything else through status().
    this.telemetry = new TelemetryService({
      config: cfg.telemetry, device: cfg.device, status: () => this.status(), outbox: store,
      onQueued: () => this.uplink?.notify(), diskPath: cfg.storage.dir, log: this.rootLog.child({ component: 'telemetry' }),
    });
    await this.telemetry.start(signal);
    signal.throwIfAborted();

    // Before the streams, whose events it answers; its histograms join the telemetry's /metrics.
    const tiers = new ResponseTiers({
      actions: cfg.actions, evidence: cfg.evidence, storageDir: cfg.storage.dir, device: cfg.device, store,
      log: this.rootLog.child({ component: 'tiers' }), registry: this.telemetry.registry, notify: () => this.uplink?.notify(),
    });
    store.onUplinked = (eventId, at) => tiers.uplinked(eventId, at);
    store.onEvicted = () => tiers.evidence.prune(true);
    store.onSpaceNeeded = (bytes) => tiers.evidence.free(bytes);
    tiers.start(cfg.rules.some((r) => cfg.evidence.enabled && cfg.evidence.severities.includes(r.severity)));
    this.tiers = tiers;

    this.models = new ModelManager({ config: cfg, log: this.rootLog.child({ component: 'models' }), report: (sev, n) => this.reportModel(sev, n) });
    if (cfg.learning.enabled) await this.startLearning(store, signal);

    await this.loadModels(signal);
    // Hub offers only once the streams' detectors exist, so an offer swaps instead of racing the load.
    this.models.start(this.uplink);
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
    // Live management serves both transports; it only needs the config file, not the socket.
    const live = new LiveManager({
      target: this, file: this.opts.configFile ?? null, overrides: this.opts.overrides ?? {},
      log: this.rootLog, logRing: this.opts.logRing,
    });
    await live.start();
    const target: ControlTarget = {
      status: () => this.status(),
      listEvents: ({ stream, limit }) => {
        if (!this.store) throw new Error('event store is closed');
        return this.store.listEvents({ limit, ...(stream !== undefined ? { stream } : {}) });
      },
      live,
      ...new EventReviews(() => this.store).target(),
      models: this.modelControl(),
      sendTestAlert: () => this.requireTestAlerts().send(),
      testAlertStatus: (eventId) => this.requireTestAlerts().status(eventId),
      ...(this.learning ? { flStatus: () => this.learning?.status() } : {}),
      ...(this.opts.onRestart ? { restart: () => this.requestRestart() } : {}),
    };
    const authoriser = this.buildAuthoriser();
    await this.startRemote(target, authoriser);
    if (!this.cfg.control.enabled) return;
    const control = new ControlSocket(this.cfg.control.socket, target, this.rootLog.child({ component: 'control' }), authoriser.socketGate);
    try {
      await control.start();
      this.control = control;
    } catch (err) {
      if (errorMessage(err).startsWith('another process answers')) throw err;
      this.log.error({ socket: this.cfg.control.socket, err: errorMessage(err) }, 'control socket unavailable: vigilctl cannot reach this daemon');
    }
  }

  /** Who may run which command, remembering nonces in the state directory and auditing through the store. */
  private buildAuthoriser(): Authoriser {
    const log = this.rootLog.child({ component: 'control' });
    const auditor = new Auditor((entry, severity) => {
      const store = this.store;
      if (!store) throw new Error('event store is closed');
      store.recordEvent({ ts: Date.now(), stream: 'control', rule: `command-${entry.outcome}`, severity, kind: AUDIT_EVENT_KIND,
        payload: { objects: [], audit: entry } }, auditOutbox(this.cfg.device));
      this.uplink?.notify();
    }, this.cfg.remote.audit_per_minute, log);
    const nonces = new NonceCache({ file: path.join(this.cfg.storage.dir, 'remote-nonces.json'), log });
    return new Authoriser({ device: this.cfg.device, config: this.cfg.remote, nonces, auditor, log });
  }

  /** Commands through the hub: needs MQTT 5 (response topic, correlation data), so not with the demo's broker. */
  private async startRemote(target: ControlTarget, authoriser: Authoriser): Promise<void> {
    const uplink = this.uplink;
    if (!this.cfg.remote.enabled || !uplink || (this.opts.protocolVersion ?? 5) !== 5) return;
    const remote = new MqttCommands({
      link: uplink, device: this.cfg.device, target, gate: authoriser.remoteGate,
      maxRequestBytes: this.cfg.remote.max_request_bytes, log: this.rootLog.child({ component: 'remote' }),
    });
    await remote.start();
    this.remote = remote;
  }

  /** Replies first; the stop starts once the reply had time to leave (socket or MQTT). */
  private requestRestart(): { restarting: true } {
    if (!this.restartRequested) {
      this.restartRequested = true;
      this.log.warn('restart requested through the control channel');
      setTimeout(() => this.opts.onRestart?.(), 300);
    }
    return { restarting: true };
  }

  private requireTestAlerts(): TestAlerts {
    if (!this.testAlerts) throw new Error('the uplink is not running');
    return this.testAlerts;
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
      await this.loadModel(ref);
    }
  }

  private async loadModel(ref: ModelRef): Promise<void> {
    try {
      // The store's active version when there is one, else the manifest in vigil.yaml; swappable either way.
      if (!this.models) throw new Error('model manager not started');
      const detector = await this.models.open(ref);
      this.detectors.set(ref.name, detector);
      this.schedulers.set(ref.name, new InferenceScheduler(detector));
      this.log.info({ model: ref.name, family: detector.info.family, provider: detector.info.provider,
        input: `${detector.info.inputWidth}x${detector.info.inputHeight}` }, 'model loaded');
    } catch (err) {
      this.modelErrors.set(ref.name, errorMessage(err));
      this.log.error({ model: ref.name, manifest: ref.manifest, err: errorMessage(err) },
        'model unusable: its streams run with motion detection only');
    }
  }

  private async startStream(config: StreamConfig, signal: AbortSignal): Promise<void> {
    const detector = config.model !== undefined ? this.detectors.get(config.model) ?? null : null;
    const ruleConfigs = this.cfg.rules.filter((r) => r.stream === config.id);
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
    const video = new VideoStream(config, { log: this.rootLog, analysis });
    const analyzer = new StreamAnalyzer({
      streamId: config.id, source: this.learning ? tapFrames(video, (f) => this.learning?.noteFrame(f)) : video, rules, sink: this.sink,
      detector: detector && config.model !== undefined ? this.schedulers.get(config.model)?.lane(schedulerLaneOptions(config)) ?? detector : null,
      gate: motionGateFor(config),
      // Two frames in flight keep a worker-thread model busy while this loop handles the last one.
      pipelineDepth: detector?.pipelineDepth ?? 1,
      tracker,
      motion: config.motion.enabled ? new MotionDetector({ threshold: config.motion.threshold, minArea: config.motion.min_area }) : null,
      log: this.rootLog.child({ component: 'analytics', stream: config.id }),
      updateIntervalMs: config.activity_update_s * 1000,
    });
    await video.start(signal);
    const done = analyzer.run(this.running.signal).catch((err: unknown) => {
      this.log.error({ stream: config.id, err: errorMessage(err) }, 'analysis loop ended with an error');
    });
    this.streams.push({ config, video, analyzer, model: detector ? config.model ?? null : null, done, rules: ruleSet, tracker });
  }

  /**
   * The analysis loops' way to the store: every write goes to the store writer (store/store-writer.ts),
   * whose thread commits it, so the frame path never waits on an fsync. What followed the commit
   * (the uplink's wake-up, the response tiers, the verifier) runs when the writer says the event is
   * accepted: committed, or held in memory while the disk fails (degraded mode).
   */
  private readonly sink: EventSink = {
    record: (hit: RuleHit, opens?: boolean): string => {
      const writer = this.writer;
      if (!writer) throw new Error('event store is closed');
      // The verifier may hold the upstream alert until it has scored the event (see AlertScreen).
      const input = this.learning?.eventInput(hit);
      const held = this.learning?.screen.holds(input !== undefined, input?.frame) ?? false;
      const toOutbox = alertOutbox(this.cfg.device, startOptions(opens));
      // The frame is valid only during this call; the tiers get it after the commit, so copy it when a snapshot will be taken.
      const later: RuleHit = hit.frame && this.tiers?.evidence.wants(hit.severity) ? { ...hit, frame: { ...hit.frame, data: Buffer.from(hit.frame.data) } } : hit;
      const event = writer.record(eventOf(hit), held ? undefined : toOutbox, (stored, durable) => {
        if (input) this.learning?.screen.onEvent(stored.id, input.frame, input.context, held ? toOutbox : null);
        if (durable) this.uplink?.notify();
        this.tiers?.recorded(later, stored.id);
      }, { ...(opens !== undefined ? { opens } : {}) });
      return event.id;
    },
    update: (update: ActivityUpdate): void => {
      if (this.learning?.screen.isSuppressed(update.eventId)) return;
      // Only the newest update matters: one still queued (an outage) is replaced, not added to.
      this.writer?.followUp(update.eventId, alertOutbox(this.cfg.device, updateOptions(update)), { supersede: ['update'] }, () => this.uplink?.notify());
    },
    end: (end: ActivityEnd): void => {
      if (this.learning?.screen.isSuppressed(end.eventId)) {
        this.writer?.mergePayload(end.eventId, endMerge(end));
        return;
      }
      // Merged and queued together, so the stored event and the hub's copy cannot disagree; an
      // update still queued is obsolete once the end is.
      this.writer?.followUp(end.eventId, alertOutbox(this.cfg.device, endOptions(end)), {
        merge: endMerge(end), supersede: ['update'], last: true,
      }, () => this.uplink?.notify());
    },
  };

  /** A model event (installed, activated, rolled back, refused) is an event: stored, listed and sent like any other. */
  private reportModel(severity: Severity, notice: ModelNotice): void {
    try {
      this.store?.recordEvent({ ts: Date.now(), stream: '', rule: MODEL_EVENT_KIND, severity, kind: MODEL_EVENT_KIND,
        payload: { objects: [], model: notice } }, modelOutbox(this.cfg.device));
      this.uplink?.notify();
    } catch (err) {
      this.log.error({ err: errorMessage(err), notice }, 'model event could not be stored');
    }
  }

  /** The control plane's view of the model manager; refusal codes lead the error message. */
  private modelControl(): NonNullable<ControlTarget['models']> {
    const withCode = async <T>(p: (m: ModelManager) => Promise<T>): Promise<T> => {
      const m = this.models;
      if (!m) throw new Error('model manager not started');
      try {
        return await p(m);
      } catch (err) {
        throw new Error(err instanceof PackageError ? `${err.code}: ${err.message}` : errorMessage(err), { cause: err });
      }
    };
    return {
      list: () => withCode((m) => m.list()),
      install: (req) => withCode((m) => m.install(req)),
      activate: (name, version, atRestart) => withCode((m) => m.activate(name, version, atRestart)),
      rollback: (name) => withCode((m) => m.rollback(name)),
    };
  }

  // ---- live management (LiveTarget, driven by daemon/manage/live-manager.ts) ----

  runningConfig(): Config {
    return this.cfg;
  }

  adopt(streams: StreamConfig[], rules: RuleConfig[]): void {
    this.cfg = { ...this.cfg, streams, rules };
  }

  async startConfiguredStream(id: string): Promise<void> {
    const config = this.cfg.streams.find((s) => s.id === id);
    if (!config || this.streams.some((s) => s.config.id === id)) return;
    const ref = config.model !== undefined ? this.cfg.models.find((m) => m.name === config.model) : undefined;
    if (ref && !this.detectors.has(ref.name) && !this.modelErrors.has(ref.name)) await this.loadModel(ref);
    await this.startStream(config, this.running.signal);
    this.uplink?.publishState();
  }

  async stopStream(id: string, reason: EndReason): Promise<boolean> {
    const i = this.streams.findIndex((s) => s.config.id === id);
    const s = this.streams[i];
    if (s === undefined) return false;
    this.streams.splice(i, 1);
    s.analyzer.setRules([], { reason });
    await s.video.stop();
    await withDeadline(2000, `analysis of stream ${id} to end`, () => s.done).catch((err: unknown) =>
      this.log.warn({ stream: id, err: errorMessage(err) }, 'stream removed; its analysis is still finishing a frame'));
    this.uplink?.publishState();
    return true;
  }

  refreshRules(streamId: string): void {
    const s = this.streams.find((r) => r.config.id === streamId);
    if (!s) return;
    const configs = this.cfg.rules.filter((r) => r.stream === streamId);
    const same = (a: RuleConfig, b: RuleConfig): boolean => JSON.stringify(a) === JSON.stringify(b);
    s.rules = configs.map((c) => s.rules.find((r) => same(r.config, c)) ?? { config: c, rule: buildRule(c) });
    const tracker = configs.some(usesTracks) ? s.tracker ?? new Tracker(s.config.tracker) : null;
    s.tracker = tracker;
    s.analyzer.setRules(s.rules.map((r) => r.rule), { tracker });
  }

  streamStatus(id: string): StreamStatus | null {
    return this.streams.find((s) => s.config.id === id)?.video.status() ?? null;
  }

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
      ...(this.writer ? { storage: storageState(this.writer.health()) } : {}),
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
      models: this.cfg.models.map((m) => {
        const sch = this.schedulers.get(m.name);
        return {
          name: m.name, provider: this.detectors.get(m.name)?.info.provider ?? null, error: this.modelErrors.get(m.name) ?? null,
          version: this.models?.activeVersion(m.name) ?? null,
          ...(sch ? { scheduler: { runs: sch.runs, frames: sch.framesRun, batchFallbacks: sch.batchFallbacks, maxBatch: sch.maxBatch,
            busyMs: this.detectors.get(m.name)?.profile?.busy?.totalMs ?? null } } : {}),
        };
      }),
      uplink: this.uplink?.status() ?? null,
      storage: this.store ? { ...this.store.storageStatus(), ...(this.writer ? { health: this.writer.health() } : {}) } : null,
      ...(this.telemetry?.latest ? { telemetry: this.telemetry.latest } : {}),
      ...(this.tiers ? { tiers: this.tiers.status() } : {}),
    };
  }

  /**
   * Where the frame path spends its time, for the benchmark: each loaded model's recent pre/run/post
   * times and its scheduler's per-stream counters, and each stream's time after inference
   * (tracker, rules, store).
   */
  inferenceProfiles(): {
    models: { model: string; profile: DetectorProfile | null; lanes: LaneStats[] }[];
    streams: { id: string; afterInferenceMs: Percentiles | null; eventFrameMs: Percentiles | null }[];
  } {
    return {
      models: [...this.detectors.entries()].map(([model, d]) => ({
        model, profile: d.profile ?? null, lanes: this.schedulers.get(model)?.stats() ?? [],
      })),
      streams: this.streams.map((s) => ({
        id: s.config.id, afterInferenceMs: s.analyzer.recent.afterInferenceMs.percentiles(), eventFrameMs: s.analyzer.recent.eventFrameMs.percentiles(),
      })),
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
    const remote = this.remote;
    this.remote = null;
    if (remote) await remote.stop().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'stop: remote commands failed'));
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
    for (const scheduler of this.schedulers.values()) scheduler.close();
    // Right after the streams, its last producers: what it commits now still reaches the tiers and
    // the uplink, which stop later; held events still go out directly.
    if (this.writer) await attempt('store writer', () => this.writer?.close(1500));
    this.writer = null;
    if (this.models) await attempt('model manager', () => this.models?.stop());
    await Promise.all([...this.detectors.values()].map((d) => attempt(`model ${d.info.name}`, () => d.close())));
    if (this.tiers) await attempt('response tiers', () => this.tiers?.stop());
    if (this.learning) await attempt('learning', () => this.learning?.stop());
    if (this.telemetry) await attempt('telemetry', () => this.telemetry?.stop());
    this.testAlerts?.stop();
    this.testAlerts = null;
    if (this.uplink) await attempt('uplink', () => this.uplink?.stop());
    if (this.store) await attempt('event store', () => this.store?.close());
    this.store = null;
  }
}
