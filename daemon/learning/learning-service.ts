import path from 'node:path';
import type { RuleHit } from '../analytics/rules/types.js';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Service } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { Frame } from '../video/frame.js';
import { AlertScreen, type ScreenStore } from './alert-screen.js';
import { DeviceLearner, type FlStatus, type LabelSource, type ModelFeed, type UpdateOutbox } from './device-learner.js';
import { Embedder } from './embedder.js';
import { FeatureExtractor } from './extractor.js';
import type { EventContext } from './features.js';
import { loadOrCreateDeviceKey, readPublicKey } from './keys.js';
import { LearningStore } from './learning-store.js';

export interface LearningDeps {
  config: Config;
  /** The event store: outbox for updates, and where held alerts are queued or marked. */
  store: UpdateOutbox & ScreenStore;
  labels: LabelSource;
  feed: ModelFeed;
  log: Logger;
}

/**
 * Federated learning on the device, built in one place for the composition root: learning.db,
 * the keys, the embedding model, the learner and the alert screen. A missing embedding model costs
 * the features (and with them the screen), never the daemon; bad keys refuse to start learning.
 */
export class LearningService implements Service {
  readonly name = 'learning';
  readonly screen: AlertScreen;
  private readonly learningStore: LearningStore;
  private readonly learner: DeviceLearner;
  private embedder: Embedder | null = null;
  private readonly log: Logger;
  private readonly frames = new Map<string, Frame>();

  private constructor(deps: LearningDeps, embedder: Embedder | null) {
    const { config: cfg } = deps;
    this.log = deps.log;
    this.embedder = embedder;
    const l = cfg.learning;
    // Keys first: a bad key file refuses learning before anything is opened.
    const keys = {
      deviceSign: loadOrCreateDeviceKey(l.device_key ?? path.join(cfg.storage.dir, 'fl-device.key')),
      hubVerify: readPublicKey(l.hub_sign_key!, 'ed25519', 'learning.hub_sign_key'),
      hubEncrypt: readPublicKey(l.hub_encrypt_key!, 'x25519', 'learning.hub_encrypt_key'),
    };
    this.learningStore = LearningStore.open(cfg.storage.dir);
    this.learner = new DeviceLearner({
      config: l, device: cfg.device, store: this.learningStore, labels: deps.labels, outbox: deps.store,
      feed: deps.feed, keys, log: this.log,
    });
    const extractor = embedder ? new FeatureExtractor(embedder, this.learningStore, this.log) : null;
    this.screen = new AlertScreen(extractor, this.learner, deps.store, this.log);
  }

  static async create(deps: LearningDeps): Promise<LearningService> {
    const model = deps.config.learning.embedding_model;
    let embedder: Embedder | null = null;
    if (model === undefined) {
      deps.log.warn('learning.embedding_model is not set: no features are extracted, so nothing new is learned or screened');
    } else {
      try {
        embedder = await Embedder.open(model, deps.config.inference.threads);
      } catch (err) {
        deps.log.error({ model, err: errorMessage(err) }, 'embedding model unusable: no features are extracted');
      }
    }
    try {
      return new LearningService(deps, embedder);
    } catch (err) {
      await embedder?.close();
      throw err;
    }
  }

  async start(signal: AbortSignal): Promise<void> {
    await this.learner.start(signal);
  }

  async stop(): Promise<void> {
    await this.learner.stop();
    await this.embedder?.close().catch(() => undefined);
    this.embedder = null;
    this.learningStore.close();
  }

  status(): FlStatus {
    return this.learner.status();
  }

  /**
   * For the frame tap: the newest frame of each stream, for hits that do not carry their own. The
   * analysis loop runs two frames deep, so that is not always the frame a hit was found on.
   */
  noteFrame(frame: Frame): void {
    this.frames.set(frame.streamId, frame);
  }

  /** The frame the hit came from, and the verifier's context for its main object; undefined for object-less hits. */
  eventInput(hit: RuleHit): { frame: Frame; context: EventContext } | undefined {
    const frame = hit.frame ?? this.frames.get(hit.streamId);
    const main = [...hit.objects].sort((a, b) => b.score - a.score)[0];
    if (!frame || !main || hit.facts.kind === 'motion') return undefined;
    return {
      frame,
      context: { label: main.label, score: main.score, box: main.box, sourceWidth: frame.sourceWidth, sourceHeight: frame.sourceHeight,
        rule: hit.ruleId, ts: hit.ts },
    };
  }
}
