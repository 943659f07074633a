import type { Registry } from 'prom-client';
import type { ActionStats } from '../actions/dispatcher.js';
import { ActionRunner } from '../actions/runner.js';
import type { RuleHit } from '../analytics/rules/types.js';
import { trackOf, triggerOf } from '../events/event-kinds.js';
import type { ActionsConfig, EvidenceConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { EvidenceService, type EvidenceStats, type EvidenceStore, type FullCapture } from '../evidence/evidence-service.js';
import { ClipRecorder, type ClipRecorderOptions } from '../evidence/clip-recorder.js';
import type { Logger } from '../log.js';
import type { DeviceIdentity } from '../uplink/alert-message.js';
import { wallClock } from '../util/clock.js';
import { TierTimings, type TierPercentiles, type TimingStore } from './timings.js';

export interface TiersStatus {
  /** Delay after the frame's inference finished, per stage, over the last 1024 events each. */
  latencyMs: TierPercentiles;
  actions: ActionStats;
  evidence: EvidenceStats;
  /** Event clips (docs/evidence-clips.md); absent without them. */
  clips?: ReturnType<ClipRecorder['status']>;
}

export interface ResponseTiersOptions {
  actions: ActionsConfig;
  evidence: EvidenceConfig;
  storageDir: string;
  device: DeviceIdentity;
  store: EvidenceStore & TimingStore;
  log: Logger;
  /** The Prometheus registry the stage histograms join; absent: no histograms. */
  registry?: Registry;
  /** Event clips: the running config and where finished clips are recorded; absent: no clips. */
  clips?: Pick<ClipRecorderOptions, 'config' | 'sink'>;
  /** Whether local actions run now: false on the standby of a pair (docs/fault-tolerance.md); absent: always. */
  mayAct?: () => boolean;
}

/**
 * The three responses to an event after it is committed: local actions (tier 1), the hub alert
 * (tier 2, the outbox; only timed here, at its PUBACK) and evidence (tier 3); and the timings of
 * all of them. The sink calls `recorded` once per new event, synchronously, right after the
 * commit: it only copies the frame and schedules work, so the frame path pays microseconds.
 */
export class ResponseTiers {
  readonly timings: TierTimings;
  readonly actions: ActionRunner;
  readonly evidence: EvidenceService;
  /** Tier 3 too: each event's video, pre-roll to post-roll (docs/evidence-clips.md); null without `clips`. */
  readonly clips: ClipRecorder | null;
  private readonly log: Logger;
  private readonly mayAct: () => boolean;

  constructor(opts: ResponseTiersOptions) {
    this.log = opts.log;
    this.mayAct = opts.mayAct ?? (() => true);
    this.timings = new TierTimings(opts.store, opts.log, opts.registry);
    this.actions = new ActionRunner({
      config: opts.actions, device: opts.device, log: opts.log.child({ component: 'actions' }),
      onDone: (eventId, at, ok) => { if (ok) this.timings.stage(eventId, 'action', at); },
    });
    this.evidence = new EvidenceService({
      config: opts.evidence, storageDir: opts.storageDir, device: opts.device, store: opts.store,
      log: opts.log.child({ component: 'evidence' }),
      onStored: (eventId, at) => this.timings.stage(eventId, 'evidence', at),
    });
    this.clips = opts.clips ? new ClipRecorder({ ...opts.clips, storageDir: opts.storageDir, log: opts.log.child({ component: 'evidence' }) }) : null;
  }

  /** `snapshots`: whether any configured rule has a severity that gets evidence (starts its worker now). */
  start(snapshots = false): void {
    this.actions.start();
    this.evidence.start(snapshots);
  }

  /** A new event (an activity's start or a one-off) was committed as `eventId`. Never throws. */
  /** `full`: the stream's full-resolution frame taken when the event was recorded, for its snapshot. */
  recorded(hit: RuleHit, eventId: string, full?: FullCapture | null): void {
    try {
      const committedAt = wallClock();
      if (hit.inferredAt !== undefined) this.timings.committed(eventId, hit.inferredAt, committedAt);
      const trackId = trackOf(hit.facts);
      if (this.mayAct()) this.actions.fire({
        eventId, ts: hit.ts, streamId: hit.streamId, ruleId: hit.ruleId, severity: hit.severity, kind: hit.facts.kind,
        activity: triggerOf(hit.facts), ...(trackId !== undefined ? { trackId } : {}),
        objects: hit.objects,
      });
      if (hit.frame && this.evidence.wants(hit.severity)) this.evidence.capture(eventId, hit.frame, hit.objects.map((o) => o.box), hit.ruleId, full);
    } catch (err) {
      this.log.error({ event: eventId, err: errorMessage(err) }, 'response tiers failed for an event');
    }
  }

  /** The broker acknowledged the event's first message (tier 2). */
  uplinked(eventId: string, at: number): void {
    // The store's clock is Date.now(); whole ms are enough against a 200 ms budget.
    this.timings.stage(eventId, 'puback', at);
  }

  status(): TiersStatus {
    return {
      latencyMs: this.timings.percentiles(), actions: { ...this.actions.stats }, evidence: { ...this.evidence.stats },
      ...(this.clips ? { clips: this.clips.status() } : {}),
    };
  }

  /** Lets snapshots being encoded finish (up to a second), then stops both. */
  async stop(): Promise<void> {
    const clips = this.clips?.stop(1500);
    await Promise.race([this.evidence.idle(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    await Promise.allSettled([this.actions.stop(), this.evidence.stop(), clips]);
  }
}
