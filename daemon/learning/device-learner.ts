import { randomInt, type KeyObject } from 'node:crypto';
import { errorMessage } from '../errors.js';
import type { Service } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { OutboxMessage } from '../store/types.js';
import type { LearningConfig } from './config.js';
import { EMBEDDING_DIM, FEATURE_DIM } from './features.js';
import type { LearningStore } from './learning-store.js';
import { accuracy, predict, subtract, type Sample, type Weights } from './model.js';
import { addNoiseInPlace, calibrateNoise, clipInPlace, epsilonSpent } from './privacy.js';
import { sealUpdate } from './sealed-update.js';
import { verifyModel } from './signed-model.js';
import { flModelTopic, flUpdateTopic } from './topics.js';
import { trainInWorker } from './trainer.js';

/** An operator's review of an event; the event store's `reviews` table, adapted at the composition root. */
export interface Review {
  eventId: string;
  verdict: 'true_alarm' | 'false_alarm';
  ts: number;
}

export interface LabelSource {
  listReviews(): readonly Review[];
}

/** Where updates go: the event store's outbox (QoS 1, survives restarts). */
export interface UpdateOutbox {
  enqueue(message: OutboxMessage): unknown;
}

/** Where global models come from: the uplink's subscriptions, which survive reconnects. */
export interface ModelFeed {
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void, qos: 0 | 1): void;
  unsubscribe(filter: string): void;
}

export interface LearnerKeys {
  deviceSign: KeyObject;
  hubVerify: KeyObject;
  hubEncrypt: KeyObject;
}

export interface DeviceLearnerOptions {
  config: LearningConfig;
  device: { id: string; site: string };
  store: LearningStore;
  labels: LabelSource;
  outbox: UpdateOutbox;
  feed: ModelFeed;
  keys: LearnerKeys;
  log: Logger;
  /** Uniform [0, 1) source for the DP noise; crypto-grade by default. Injected for reproducible tests. */
  random?: () => number;
}

/** What the verifier says of an event. */
export interface Verdict {
  /** p(true alarm); null when there is no trained model or no features for the event. */
  p: number | null;
  /** Keep on the device as a likely false alarm instead of alerting upstream. */
  suppress: boolean;
  round: number | null;
}

export type RoundOutcome = 'sent' | 'no_model' | 'already_sent' | 'too_few_labels' | 'budget_spent' | 'busy' | 'failed';

export interface FlStatus {
  enabled: true;
  round: number | null;
  participants: number | null;
  lastSentRound: number | null;
  roundsSent: number;
  labelled: number;
  features: number;
  holdout: number;
  localAccuracy: number | null;
  globalAccuracy: number | null;
  threshold: number;
  suppressed: number;
  /** epsilonSpent null: some update left without noise, so no finite guarantee holds. */
  privacy: { dp: boolean; epsilonSpent: number | null; epsilonTarget: number | null; delta: number | null; noiseMultiplier: number | null };
  lastOutcome: RoundOutcome | null;
  lastError: string | null;
}

/** Uniform [0, 1) from the CSPRNG: DP noise from Math.random could be predicted and subtracted. */
const cryptoRandom = (): number => randomInt(0, 2 ** 48 - 1) / 2 ** 48;

/**
 * The device's side of federated learning. Receives the hub's signed global model and swaps it in
 * atomically (one reference, saved first); each round trains from it on the operators' reviews in a
 * worker thread, clips the delta, adds noise when differential privacy is on, seals it to the hub and
 * queues it in the outbox. Scores new events with the global model for the verifier.
 */
export class DeviceLearner implements Service {
  readonly name = 'learning';
  private global: { round: number; participants: number; weights: Weights } | null = null;
  private local: Weights | null = null;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RoundOutcome> | null = null;
  private lastOutcome: RoundOutcome | null = null;
  private lastError: string | null = null;
  private readonly modelTopic: string;
  private readonly updateTopic: string;
  private readonly noiseMultiplier: number;
  private readonly log: Logger;
  private stopped = false;

  constructor(private readonly opts: DeviceLearnerOptions) {
    this.log = opts.log;
    this.modelTopic = flModelTopic(opts.device.site);
    this.updateTopic = flUpdateTopic(opts.device.site, opts.device.id);
    const dp = opts.config.dp;
    this.noiseMultiplier = dp.enabled ? calibrateNoise(dp.epsilon, dp.delta, dp.rounds) : 0;
    const stored = opts.store.loadModel('global');
    // A stored model is re-verified, not trusted: the row could have been edited on disk.
    if (stored?.raw) {
      try {
        const m = verifyModel(stored.raw, opts.device.site, opts.keys.hubVerify, FEATURE_DIM + 1);
        this.global = { round: m.info.round, participants: m.info.participants, weights: m.weights };
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'stored global model does not verify: waiting for the hub\'s');
      }
    }
    this.local = opts.store.loadModel('local')?.weights ?? null;
  }

  start(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    this.opts.feed.subscribe(this.modelTopic, (_topic, payload) => this.onModel(payload), 1);
    this.timer = setInterval(() => this.kick(), this.opts.config.train_interval_s * 1000);
    this.timer.unref();
    this.kick();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.opts.feed.unsubscribe(this.modelTopic);
    await this.running?.catch(() => undefined);
  }

  get threshold(): number {
    return this.opts.config.threshold;
  }

  /** The current global round, or null before the first model. */
  get round(): number | null {
    return this.global?.round ?? null;
  }

  /**
   * A global model from the hub. Refused (and logged) unless signed by the hub, for this site and
   * feature layout, and newer than the one in use; accepted, it is saved, then swapped in with one
   * assignment, so a scoring call sees the old model or the new one, never a mix.
   */
  onModel(payload: Buffer | string): boolean {
    let m;
    try {
      m = verifyModel(payload, this.opts.device.site, this.opts.keys.hubVerify, FEATURE_DIM + 1);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'global model refused');
      return false;
    }
    if (this.global && m.info.round <= this.global.round) {
      if (m.info.round < this.global.round) this.log.warn({ round: m.info.round, current: this.global.round }, 'older global model ignored');
      return false;
    }
    this.opts.store.saveModel('global', { round: m.info.round, participants: m.info.participants, weights: m.weights, raw: payload.toString() });
    this.global = { round: m.info.round, participants: m.info.participants, weights: m.weights };
    this.log.info({ round: m.info.round, participants: m.info.participants, rule: m.info.rule }, 'global model in use');
    this.kick();
    return true;
  }

  private kick(): void {
    if (this.stopped || this.running) return;
    this.running = this.trainRound().finally(() => { this.running = null; });
  }

  /** Resolves when no round is in progress (for tests and a clean stop). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Labelled samples split by a hash of the event id, so an event stays on its side of the split between rounds. */
  private labelled(): { train: Sample[]; holdout: Sample[] } {
    const reviews = this.opts.labels.listReviews();
    const verdicts = new Map(reviews.map((r) => [r.eventId, r.verdict]));
    const rows = this.opts.store.featuresFor([...verdicts.keys()], this.opts.config.max_samples);
    const train: Sample[] = [];
    const holdout: Sample[] = [];
    const cut = Math.round(this.opts.config.holdout * 1000);
    for (const row of rows) {
      const s: Sample = { x: row.vec, y: verdicts.get(row.eventId) === 'true_alarm' ? 1 : 0 };
      (idBucket(row.eventId) < cut ? holdout : train).push(s);
    }
    return { train, holdout };
  }

  /** One round if there is one to take part in; returns what happened. Never throws. */
  async trainRound(): Promise<RoundOutcome> {
    const outcome = await this.tryRound().catch((err: unknown) => {
      this.lastError = errorMessage(err);
      this.log.error({ err: this.lastError }, 'federated round failed');
      return 'failed' as const;
    });
    this.lastOutcome = outcome;
    return outcome;
  }

  private async tryRound(): Promise<RoundOutcome> {
    const global = this.global;
    if (!global) return 'no_model';
    if (this.opts.store.hasRound(global.round)) return 'already_sent';
    const { train } = this.labelled();
    if (train.length < this.opts.config.min_samples) return 'too_few_labels';
    const cfg = this.opts.config;
    if (cfg.dp.enabled) {
      const spent = epsilonSpent([...this.opts.store.rounds().map((r) => r.noiseMultiplier), this.noiseMultiplier], cfg.dp.delta);
      if (spent > cfg.dp.epsilon * (1 + 1e-9)) return 'budget_spent';
    }
    const started = Date.now();
    const local = await trainInWorker(global.weights, train, {
      epochs: cfg.epochs, learningRate: cfg.learning_rate, l2: cfg.l2, block: { dims: EMBEDDING_DIM, l2: cfg.l2_embedding }, batchSize: 32,
      seed: global.round + 1,
    });
    if (this.stopped) return 'failed';
    const delta = subtract(local, global.weights);
    const norm = clipInPlace(delta, cfg.clip_norm);
    if (cfg.dp.enabled) addNoiseInPlace(delta, this.noiseMultiplier * cfg.clip_norm, this.opts.random ?? cryptoRandom);
    const update = sealUpdate({ site: this.opts.device.site, device: this.opts.device.id, round: global.round, samples: train.length }, delta,
      { hubEncrypt: this.opts.keys.hubEncrypt, deviceSign: this.opts.keys.deviceSign });
    // One transaction each; a crash between them at worst re-sends the round, which the hub refuses as a replay of the round.
    this.opts.outbox.enqueue({ topic: this.updateTopic, payload: JSON.stringify(update), qos: 1, priority: FL_PRIORITY });
    this.opts.store.recordRound({ round: global.round, sentAt: Date.now(), samples: train.length, deltaNorm: norm,
      clipped: norm > cfg.clip_norm, noiseMultiplier: this.noiseMultiplier, updateId: update.id });
    this.opts.store.saveModel('local', { round: global.round, participants: 1, weights: local, raw: null });
    this.local = local;
    this.log.info({ round: global.round, samples: train.length, delta_norm: Number(norm.toFixed(3)), ms: Date.now() - started }, 'federated update queued');
    return 'sent';
  }

  /**
   * Scores one event from its stored features with the global model. Fails open: without a trained
   * model (round 0 is the hub's untrained start) or without features, every event is alerted.
   */
  verdict(eventId: string): Verdict {
    const global = this.global;
    const threshold = this.opts.config.threshold;
    if (!global || global.round === 0) return { p: null, suppress: false, round: global?.round ?? null };
    const x = this.opts.store.getFeatures(eventId);
    if (!x) return { p: null, suppress: false, round: global.round };
    const p = predict(global.weights, x);
    const suppress = p < threshold;
    this.opts.store.recordScore({ eventId, round: global.round, p, suppressed: suppress });
    return { p, suppress, round: global.round };
  }

  status(): FlStatus {
    const { holdout, train } = this.labelled();
    const rounds = this.opts.store.rounds();
    const dp = this.opts.config.dp;
    const spent = epsilonSpent(rounds.map((r) => r.noiseMultiplier), dp.delta);
    return {
      enabled: true,
      round: this.global?.round ?? null,
      participants: this.global?.participants ?? null,
      lastSentRound: rounds.at(-1)?.round ?? null,
      roundsSent: rounds.length,
      labelled: train.length + holdout.length,
      features: this.opts.store.featureCount(),
      holdout: holdout.length,
      localAccuracy: this.local ? accuracy(this.local, holdout) : null,
      globalAccuracy: this.global ? accuracy(this.global.weights, holdout) : null,
      threshold: this.opts.config.threshold,
      suppressed: this.opts.store.suppressedCount(),
      privacy: {
        dp: dp.enabled,
        epsilonSpent: Number.isFinite(spent) ? spent : null,
        epsilonTarget: dp.enabled ? dp.epsilon : null,
        delta: dp.enabled ? dp.delta : null,
        noiseMultiplier: dp.enabled ? this.noiseMultiplier : null,
      },
      lastOutcome: this.lastOutcome,
      lastError: this.lastError,
    };
  }
}

/** After every event and telemetry report: a model update can always wait. */
export const FL_PRIORITY = 5;

function idBucket(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619) >>> 0;
  return h % 1000;
}
