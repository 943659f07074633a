import type { EndReason } from './analytics/rules/index.js';
import type { PathOverrides } from './config/load.js';
import type { Config, RuleConfig, StreamConfig } from './config/schema.js';
import { ControlPlane } from './control/control-plane.js';
import { EventRecorder } from './events/event-recorder.js';
import type { DetectorProfile } from './inference/detector.js';
import type { LaneStats } from './inference/scheduler.js';
import type { Logger } from './log.js';
import type { ChangeResult, LiveTarget } from './manage/live-manager.js';
import type { LogRing } from './manage/log-ring.js';
import { ModelRegistry } from './models/model-registry.js';
import {
  openStore, startLearning, startPair, startTelemetry, startTestAlerts, startTiers, startUplink, type ColdStreams, type DaemonParts, type PartContext,
} from './parts.js';
import { ClipTaps } from './evidence/clip-taps.js';
import { ServiceList } from './services.js';
import { registerDataCareMetrics, startReplica, startScrub } from './store/replica/replica-service.js';
import { appStatus, stateInfo, type AppStatus } from './status/app-status.js';
import { StreamSupervisor } from './streams/stream-supervisor.js';
import type { ProtocolVersion } from './uplink/client-options.js';
import type { Percentiles } from './util/sample-ring.js';
import type { StreamStatus } from './video/frame.js';

export type { AppStatus } from './status/app-status.js';

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

/**
 * The composition root: builds every service from the config and hands each its part of it.
 * Data flows one way — video → analysis (streams/) → events (events/event-recorder.ts) → store →
 * uplink — and the services start in one list, in the reverse of that flow, so that nothing
 * produces before its consumer exists; they stop in the reverse order of the list.
 * One bad model or stream is logged and left out; it never stops the others.
 */
export class App implements LiveTarget {
  private readonly parts: DaemonParts;
  private readonly models: ModelRegistry;
  private readonly recorder: EventRecorder;
  private readonly streams: StreamSupervisor;
  private readonly control: ControlPlane;
  private readonly services: ServiceList;
  private statsTimer: NodeJS.Timeout | undefined;
  /** Which streams' access units the event clips listen to (null: no clips). */
  private clipTaps: ClipTaps | null = null;
  private readonly log: Logger;

  constructor(cfg: Config, rootLog: Logger, private readonly opts: AppOptions = {}) {
    this.log = rootLog.child({ component: 'app' });
    this.parts = { cfg, store: null, writer: null, uplink: null, testAlerts: null, telemetry: null, tiers: null, learning: null };
    this.models = new ModelRegistry(rootLog, this.log);
    this.recorder = new EventRecorder(this.parts, this.log);
    this.streams = new StreamSupervisor(this.parts, this.models, this.recorder, rootLog, this.log);
    this.parts.video = this.streams;
    this.control = new ControlPlane({
      parts: this.parts, models: this.models, live: this, status: () => this.status(), audit: this.recorder.recordAudit,
      configFile: opts.configFile ?? null, overrides: opts.overrides ?? {}, logRing: opts.logRing, onRestart: opts.onRestart,
      protocolVersion: opts.protocolVersion, rootLog, log: this.log,
    });
    const p = this.parts;
    const ctx: PartContext = { rootLog, log: this.log, protocolVersion: opts.protocolVersion, status: () => this.status(),
      state: () => stateInfo(p, this.models, this.streams) };
    // Start order; stop is the reverse. The store writer starts with the store (the uplink's first state reports its health).
    this.services = new ServiceList([
      { name: 'event store', start: () => openStore(p, ctx, this.recorder.recordAudit), stop: () => { p.store?.close(); p.store = null; } },
      // Stops after every writer, with a last copy of what they committed (docs/data-replication.md).
      { name: 'replica', start: () => { p.replica = startReplica(p, rootLog, this.recorder.recordAudit); },
        stop: async () => { await p.replica?.stop(1200); p.replica = null; } },
      { name: 'uplink', start: (signal) => startUplink(p, ctx, signal), stop: async () => { await p.uplink?.stop(); } },
      { name: 'pair', start: () => startPair(p, ctx, this.recorder.recordAudit, this.coldStreams), stop: () => { p.pair?.stop(); p.pair = null; p.pairCatchUp = null; } },
      { name: 'test alerts', start: () => startTestAlerts(p, ctx), stop: () => { p.testAlerts?.stop(); p.testAlerts = null; } },
      { name: 'telemetry', start: (signal) => startTelemetry(p, ctx, signal), stop: async () => { await p.telemetry?.stop(); } },
      { name: 'learning', start: (signal) => startLearning(p, ctx, signal), stop: async () => { await p.learning?.stop(); } },
      { name: 'response tiers', start: () => startTiers(p, ctx), stop: async () => { await p.tiers?.stop(); } },
      { name: 'evidence scrub', start: () => { p.scrub = startScrub(p, rootLog, this.recorder.recordAudit); registerDataCareMetrics(p); },
        stop: async () => { await p.scrub?.stop(); p.scrub = null; } },
      // Subscribed before the streams start, so their pipelines build the access-unit branch from the start.
      { name: 'event clips', start: () => this.tapClips(), stop: async () => { await p.tiers?.clips?.stop(1500); } },
      { name: 'models', deadline: false, start: (signal) => this.models.start(p.cfg, (sev, n) => this.recorder.reportModel(sev, n), signal),
        stop: () => this.models.closeDetectors() },
      { name: 'model manager', start: () => this.models.startOffers(p.uplink), stop: () => this.models.stopManager() },
      // Right after the streams, its last producers: what it commits now still reaches the tiers and
      // the uplink, which stop later; held events still go out directly.
      { name: 'store writer', start: () => {}, stop: async () => { await p.writer?.close(1500); p.writer = null; } },
      { name: 'schedulers', start: () => {}, stop: () => this.models.closeSchedulers() },
      { name: 'streams', deadline: false, start: (signal) => this.startStreams(signal), stop: () => this.streams.stop() },
      { name: 'control', deadline: false, start: () => this.control.start(), stop: () => this.control.stop() },
    ], this.log);
  }

  /** A cold standby of a pair (docs/fault-tolerance.md) starts no stream until it is active. */
  private async startStreams(signal: AbortSignal): Promise<void> {
    const { pair } = this.parts.cfg;
    if (!(pair.enabled && pair.mode === 'cold' && this.parts.pair?.active !== true)) await this.streams.start(signal);
    this.streamsStarted = true;
  }

  /** Set once the streams service has started: before that a takeover leaves the streams to it. */
  private streamsStarted = false;
  private readonly coldStreams: ColdStreams = {
    resume: async () => {
      if (!this.streamsStarted) return;
      for (const s of this.parts.cfg.streams.filter((x) => x.enabled)) await this.startConfiguredStream(s.id);
    },
    pause: async () => {
      for (const s of this.parts.cfg.streams) await this.stopStream(s.id, 'stream_ended');
    },
  };

  async start(signal: AbortSignal): Promise<void> {
    await this.services.start(signal);
    this.parts.uplink?.publishState();
    const every = this.opts.statsIntervalMs ?? 30_000;
    if (every > 0) {
      this.statsTimer = setInterval(() => this.logStats(), every);
      this.statsTimer.unref();
    }
  }

  /** Analysis loops first (between two frames), then every service in reverse order of start. */
  async stop(): Promise<void> {
    clearInterval(this.statsTimer);
    this.streams.halt();
    await this.services.stop();
  }

  /** SIGHUP / `systemctl reload vigild`: see LiveManager.reload. */
  reload(): Promise<ChangeResult> { return this.control.reload(); }

  // ---- live management (LiveTarget, driven by daemon/manage/live-manager.ts) ----
  runningConfig(): Config { return this.parts.cfg; }
  adopt(streams: StreamConfig[], rules: RuleConfig[]): void { this.parts.cfg = { ...this.parts.cfg, streams, rules }; }
  startConfiguredStream(id: string): Promise<void> { this.clipTaps?.sync(id); return this.streams.startConfigured(id); }
  async stopStream(id: string, reason: EndReason): Promise<boolean> {
    const stopped = await this.streams.stopStream(id, reason);
    this.clipTaps?.drop(id);
    return stopped;
  }
  refreshRules(streamId: string): void { this.clipTaps?.sync(streamId); this.streams.refreshRules(streamId); }
  streamStatus(id: string): StreamStatus | null { return this.streams.streamStatus(id); }

  status(): AppStatus {
    return appStatus(this.parts, this.models, this.streams);
  }

  /** Where the frame path spends its time, for the benchmark: per model (pre/run/post, scheduler lanes) and per stream (after inference). */
  inferenceProfiles(): {
    models: { model: string; profile: DetectorProfile | null; lanes: LaneStats[] }[];
    streams: { id: string; afterInferenceMs: Percentiles | null; eventFrameMs: Percentiles | null }[];
  } {
    return { models: this.models.profiles(), streams: this.streams.profiles() };
  }

  private tapClips(): void {
    const clips = this.parts.tiers?.clips;
    if (!clips) return;
    this.clipTaps = new ClipTaps(clips, (id, listener) => this.streams.onAccessUnit(id, listener));
    this.clipTaps.syncAll(this.parts.cfg.streams.filter((s) => s.enabled).map((s) => s.id));
  }

  private logStats(): void {
    for (const s of this.status().streams) {
      this.log.info({ stream: s.id, state: s.state, decoder: s.decoder, fps: Number(s.fps.toFixed(2)), pulled: s.framesPulled,
        dropped: s.framesDropped, analysed: s.analysis.framesAnalysed, inference_ms: Number(s.analysis.inferenceMs.toFixed(1)),
        events: s.analysis.events, restarts: s.restarts }, 'stream stats');
    }
  }
}
