import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { errorMessage } from '../errors.js';
import { withDeadline } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { aggregate, type AggregationRule, type Contribution } from './aggregate.js';
import { decodeVector, encodeVector, l2norm, type Weights } from './model.js';
import { openUpdate, RefusedUpdate, verifyUpdate, type RefusalReason } from './sealed-update.js';
import { signModel } from './signed-model.js';
import { flModelTopic, flUpdateShare } from './topics.js';

export interface HubAggregatorOptions {
  url: string;
  site: string;
  /** Shared-subscription group: instances with the same group split the updates between them. */
  group: string;
  registry: ReadonlyMap<string, KeyObject>;
  signKey: KeyObject;
  decryptKey: KeyObject;
  rule: AggregationRule;
  /** Fraction trimmed at each end by trimmed_mean. */
  trim?: number;
  /**
   * Server step: the model moves by this times the aggregated delta (FedAvg with a server learning
   * rate, Reddi et al. 2021). 1 is plain FedAvg; on non-IID devices the deltas partly cancel and 2
   * reached central accuracy in fewer rounds in the simulation; 3 diverged there.
   */
  serverLr?: number;
  /** A round closes as soon as this many devices have sent an accepted update. */
  minParticipants: number;
  /** …or this long after its first accepted update, with whatever arrived. */
  roundTimeoutMs: number;
  /** Model length (features + bias). */
  length: number;
  /** Round and weights survive a restart of the hub here (JSON); absent: start from round 0 each time. */
  statePath?: string;
  mqtt?: Partial<IClientOptions>;
  log: Logger;
}

export interface RoundResult {
  round: number;
  participants: string[];
  samples: number;
  rule: AggregationRule;
  updateNorm: number;
}

export type HubStats = {
  round: number;
  accepted: number;
  pending: string[];
  refused: Partial<Record<RefusalReason | 'duplicate', number>>;
};

interface HubEvents {
  round: [RoundResult];
  refused: [RefusalReason | 'duplicate', string];
  accepted: [string];
}

/**
 * `vigilctl hub fl`: the site's aggregator. Publishes the signed global model (retained), takes
 * sealed updates through an MQTT 5 shared subscription, refuses what it must (see RefusalReason),
 * and when a round has its participants, aggregates the deltas into the next model.
 */
export class HubAggregator extends EventEmitter<HubEvents> {
  private client: MqttClient | null = null;
  private round = 0;
  private weights: Weights;
  private readonly pending = new Map<string, Contribution>();
  /** Update ids seen, oldest first; bounded so a hub that runs for months does not grow without end. */
  private readonly seen = new Set<string>();
  private readonly refusedCounts: HubStats['refused'] = {};
  private accepted = 0;
  private roundTimer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly opts: HubAggregatorOptions) {
    super();
    this.log = opts.log;
    this.weights = new Float64Array(opts.length);
    if (opts.statePath && existsSync(opts.statePath)) {
      const state = JSON.parse(readFileSync(opts.statePath, 'utf8')) as { round: number; weights: string };
      this.round = state.round;
      this.weights = decodeVector(Buffer.from(state.weights, 'base64'), opts.length, `hub state ${opts.statePath}`);
    }
  }

  get currentRound(): number {
    return this.round;
  }

  get model(): Weights {
    return this.weights;
  }

  async start(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const client = await connectAsync(this.opts.url, {
      protocolVersion: 5, clean: true, reconnectPeriod: 1000, connectTimeout: 10_000,
      clientId: `vigil-hub-fl-${this.opts.site}-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, ...this.opts.mqtt,
    });
    this.client = client;
    client.on('message', (_topic, payload) => this.onUpdate(payload));
    client.on('error', (err) => this.log.warn({ err: errorMessage(err) }, 'mqtt error'));
    // A hub resuming from --state republishes its latest model, so devices that missed it catch up.
    await this.publishModel(0, 0, this.round === 0 ? 'initial' : this.opts.rule);
    const filter = flUpdateShare(this.opts.group, this.opts.site);
    await client.subscribeAsync(filter, { qos: 1 });
    this.log.info({ filter, round: this.round, devices: this.opts.registry.size, rule: this.opts.rule }, 'federated aggregator running');
  }

  /** Gives the last model publish a moment, then closes; never hangs on a broker that does not answer. */
  async stop(): Promise<void> {
    clearTimeout(this.roundTimer);
    await withDeadline(2000, 'global model publish', () => this.publishing).catch(() => undefined);
    const client = this.client;
    this.client = null;
    if (client) await withDeadline(2000, 'mqtt close', () => client.endAsync(true)).catch(() => undefined);
  }

  stats(): HubStats {
    return { round: this.round, accepted: this.accepted, pending: [...this.pending.keys()], refused: { ...this.refusedCounts } };
  }

  private refuse(reason: RefusalReason | 'duplicate', message: string): void {
    this.refusedCounts[reason] = (this.refusedCounts[reason] ?? 0) + 1;
    this.log.warn({ reason }, `update refused: ${message}`);
    this.emit('refused', reason, message);
  }

  /** One update off the wire. Never throws: a bad update is counted and logged. */
  onUpdate(payload: Buffer): void {
    try {
      const u = verifyUpdate(payload, this.opts.site, (d) => this.opts.registry.get(d));
      if (this.seen.has(u.id)) throw new RefusedUpdate('replayed', `update ${u.id} from "${u.device}" was seen before`);
      this.remember(u.id);
      if (u.round !== this.round) throw new RefusedUpdate('stale_round', `update from "${u.device}" is for round ${u.round}, the hub is at round ${this.round}`);
      if (this.pending.has(u.device)) {
        this.refuse('duplicate', `"${u.device}" already sent an update for round ${u.round}`);
        return;
      }
      const delta = openUpdate(u, this.opts.decryptKey);
      if (delta.length !== this.opts.length) throw new RefusedUpdate('bad_delta', `update has ${delta.length} values, the model ${this.opts.length}`);
      this.pending.set(u.device, { delta, samples: u.samples });
      this.accepted++;
      this.emit('accepted', u.device);
      this.log.info({ device: u.device, round: u.round, samples: u.samples, have: this.pending.size }, 'update accepted');
      if (this.pending.size >= this.opts.minParticipants) this.closeRound();
      else if (this.pending.size === 1) {
        this.roundTimer = setTimeout(() => this.closeRound(), this.opts.roundTimeoutMs);
        this.roundTimer.unref();
      }
    } catch (err) {
      if (err instanceof RefusedUpdate) this.refuse(err.reason, err.message);
      else this.log.error({ err: errorMessage(err) }, 'update handling failed');
    }
  }

  private remember(id: string): void {
    this.seen.add(id);
    if (this.seen.size > 100_000) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  private closeRound(): void {
    clearTimeout(this.roundTimer);
    if (this.pending.size === 0) return;
    const participants = [...this.pending.keys()];
    const parts = [...this.pending.values()];
    this.pending.clear();
    const delta = aggregate(this.opts.rule, parts, this.opts.trim ?? 0.2);
    const next = Float64Array.from(this.weights);
    const step = this.opts.serverLr ?? 1;
    for (let i = 0; i < next.length; i++) next[i]! += step * delta[i]!;
    this.weights = next;
    this.round += 1;
    const samples = parts.reduce((s, p) => s + p.samples, 0);
    this.persist();
    const result: RoundResult = { round: this.round, participants, samples, rule: this.opts.rule, updateNorm: l2norm(delta) };
    this.log.info({ ...result, updateNorm: Number(result.updateNorm.toFixed(3)) }, 'round closed');
    this.publishing = this.publishing.then(() => this.publishModel(participants.length, samples, this.opts.rule))
      .catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'cannot publish the global model'));
    this.emit('round', result);
  }

  private persist(): void {
    if (!this.opts.statePath) return;
    const tmp = `${this.opts.statePath}.tmp`;
    writeFileSync(tmp, JSON.stringify({ round: this.round, weights: encodeVector(this.weights).toString('base64') }));
    renameSync(tmp, this.opts.statePath);
  }

  private async publishModel(participants: number, samples: number, rule: AggregationRule | 'initial'): Promise<void> {
    const client = this.client;
    if (!client) return;
    const msg = signModel({ site: this.opts.site, round: this.round, participants, samples, rule }, this.weights, this.opts.signKey);
    await client.publishAsync(flModelTopic(this.opts.site), JSON.stringify(msg), { qos: 1, retain: true });
  }
}
