import type { Config, ModelRef, Severity } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Detector, DetectorProfile } from '../inference/detector.js';
import { InferenceScheduler, type LaneStats } from '../inference/scheduler.js';
import type { Logger } from '../log.js';
import { stopOne } from '../services.js';
import type { ModelNotice } from '../uplink/model-message.js';
import type { Uplink } from '../uplink/uplink.js';
import { ModelManager } from './model-manager.js';

/** A model's line in the daemon status; see AppStatus in status/app-status.ts. */
export interface ModelStatus {
  name: string; provider: string | null; error: string | null; version?: string | null;
  /**
   * The model's inference scheduler: runs, frames they carried (frames / runs is the mean batch),
   * batched runs that failed and were rerun frame by frame, frames one run may take, and the
   * inference worker's working time since the model (version) loaded, ms (null in process).
   */
  scheduler?: { runs: number; frames: number; batchFallbacks: number; maxBatch: number; busyMs: number | null };
}

/**
 * The models the streams use: one detector and one inference scheduler per loaded model (the
 * streams using a model take turns by priority, see inference/scheduler.ts), and why a model is
 * unusable. Opening a model goes through the model manager (models/model-manager.ts), which picks
 * the store's active version and swaps it on activation.
 */
export class ModelRegistry {
  private readonly detectors = new Map<string, Detector>();
  private readonly schedulers = new Map<string, InferenceScheduler>();
  private readonly errors = new Map<string, string>();
  private manager: ModelManager | null = null;

  constructor(private readonly rootLog: Logger, private readonly log: Logger) {}

  /** The model manager, for the control plane's `models.*` commands; null before start and after stop. */
  get models(): ModelManager | null {
    return this.manager;
  }

  /** Loads the models the enabled streams name; one that fails is recorded and its streams run motion-only. */
  async start(cfg: Config, report: (severity: Severity, notice: ModelNotice) => void, signal: AbortSignal): Promise<void> {
    this.manager = new ModelManager({ config: cfg, log: this.rootLog.child({ component: 'models' }), report });
    const used = new Set(cfg.streams.filter((s) => s.enabled).map((s) => s.model));
    for (const ref of cfg.models) {
      signal.throwIfAborted();
      if (!used.has(ref.name)) continue;
      await this.load(ref);
    }
  }

  /** Hub offers only once the streams' detectors exist, so an offer swaps instead of racing the load. */
  startOffers(uplink: Uplink | null): void {
    if (this.manager && uplink) this.manager.start(uplink);
  }

  /** Loads `ref` unless it is loaded or already known to be unusable (a stream added live). */
  async ensure(ref: ModelRef): Promise<void> {
    if (!this.detectors.has(ref.name) && !this.errors.has(ref.name)) await this.load(ref);
  }

  private async load(ref: ModelRef): Promise<void> {
    try {
      // The store's active version when there is one, else the manifest in vigil.yaml; swappable either way.
      if (!this.manager) throw new Error('model manager not started');
      const detector = await this.manager.open(ref);
      this.detectors.set(ref.name, detector);
      this.schedulers.set(ref.name, new InferenceScheduler(detector));
      this.log.info({ model: ref.name, family: detector.info.family, provider: detector.info.provider,
        input: `${detector.info.inputWidth}x${detector.info.inputHeight}` }, 'model loaded');
    } catch (err) {
      this.errors.set(ref.name, errorMessage(err));
      this.log.error({ model: ref.name, manifest: ref.manifest, err: errorMessage(err) },
        'model unusable: its streams run with motion detection only');
    }
  }

  detector(name: string): Detector | null {
    return this.detectors.get(name) ?? null;
  }

  scheduler(name: string): InferenceScheduler | null {
    return this.schedulers.get(name) ?? null;
  }

  /** The execution provider `name` runs on; null when it is not loaded. */
  provider(name: string | null): string | null {
    return name !== null ? this.detectors.get(name)?.info.provider ?? null : null;
  }

  /** Every provider a loaded model runs on, once each. */
  providers(): string[] {
    return [...new Set([...this.detectors.values()].map((d) => d.info.provider))];
  }

  status(refs: readonly ModelRef[]): ModelStatus[] {
    return refs.map((m) => {
      const sch = this.schedulers.get(m.name);
      return {
        name: m.name, provider: this.provider(m.name), error: this.errors.get(m.name) ?? null,
        version: this.manager?.activeVersion(m.name) ?? null,
        ...(sch ? { scheduler: { runs: sch.runs, frames: sch.framesRun, batchFallbacks: sch.batchFallbacks, maxBatch: sch.maxBatch,
          busyMs: this.detectors.get(m.name)?.profile?.busy?.totalMs ?? null } } : {}),
      };
    });
  }

  /** Each loaded model's recent pre/run/post times and its scheduler's per-stream counters. */
  profiles(): { model: string; profile: DetectorProfile | null; lanes: LaneStats[] }[] {
    return [...this.detectors.entries()].map(([model, d]) => ({
      model, profile: d.profile ?? null, lanes: this.schedulers.get(model)?.stats() ?? [],
    }));
  }

  /** Right after the streams, the schedulers' only users. */
  closeSchedulers(): void {
    for (const scheduler of this.schedulers.values()) scheduler.close();
  }

  async stopManager(): Promise<void> {
    await this.manager?.stop();
  }

  /** Every detector side by side, each with its own deadline. */
  async closeDetectors(): Promise<void> {
    await Promise.all([...this.detectors.values()].map((d) => stopOne(`model ${d.info.name}`, () => d.close(), this.log)));
  }
}
