import { Histogram, type Registry } from 'prom-client';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventTimings, TimingStage } from '../store/annotations.js';
import { SampleRing } from '../util/sample-ring.js';

/** The stages after inference, each measured from the moment the frame's inference finished. */
export const STAGES = ['commit', 'action', 'puback', 'evidence'] as const;
export type Stage = (typeof STAGES)[number];

/** The promise per tier (docs/response-tiers.md): local action 50 ms, hub alert 200 ms, evidence 5 s. */
export const STAGE_LIMIT_MS: Readonly<Record<Stage, number | null>> = { commit: null, action: 50, puback: 200, evidence: 5000 };

const COLUMN: Readonly<Record<Stage, TimingStage>> = { commit: 'committedAt', action: 'actionAt', puback: 'pubackAt', evidence: 'evidenceAt' };

export interface StagePercentiles { p50: number; p99: number; samples: number; limit_ms: number | null }
export type TierPercentiles = Record<Stage, StagePercentiles | null>;

/** Where timings are kept; EventStore provides it. */
export interface TimingStore {
  recordTiming(eventId: string, stage: TimingStage, at: number): boolean;
  timings(eventId: string): EventTimings | null;
}

/** Recently committed events whose inference time is kept in memory; older ones are read back from the store. */
const REMEMBERED = 4096;

/**
 * Per-event response timings: each stage's time is stored with the event (event_timings), and its
 * delay after inference goes into a Prometheus histogram and a ring for the p50/p99 in
 * `vigilctl status`. Nothing here throws to its caller: a timing is worth less than what it times.
 */
export class TierTimings {
  private readonly inferred = new Map<string, number>();
  private readonly rings = Object.fromEntries(STAGES.map((s) => [s, new SampleRing(1024)])) as Record<Stage, SampleRing>;
  private readonly histogram: Histogram<'stage'> | null;

  constructor(private readonly store: TimingStore, private readonly log: Logger, registry?: Registry) {
    this.histogram = registry ? new Histogram({
      name: 'vigil_event_stage_ms',
      help: 'Delay from the frame\'s inference finishing to each response stage of its event: commit (stored), action (tier 1, local), puback (tier 2, hub), evidence (tier 3, snapshot), ms',
      labelNames: ['stage'],
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000],
      registers: [registry],
    }) : null;
  }

  /** The event's transaction committed at `committedAt`; `inferredAt` is its frame's inference end. */
  committed(eventId: string, inferredAt: number, committedAt: number): void {
    this.inferred.set(eventId, inferredAt);
    if (this.inferred.size > REMEMBERED) {
      const oldest = this.inferred.keys().next();
      if (!oldest.done) this.inferred.delete(oldest.value);
    }
    this.write(eventId, 'inferredAt', inferredAt);
    this.stage(eventId, 'commit', committedAt);
  }

  /** Records that `eventId` reached `stage` at `at` (wall clock, ms); ignored for events never timed. */
  stage(eventId: string, stage: Stage, at: number): void {
    let inferredAt = this.inferred.get(eventId);
    if (inferredAt === undefined) {
      try {
        inferredAt = this.store.timings(eventId)?.inferredAt ?? undefined;
      } catch (err) {
        this.log.warn({ event: eventId, err: errorMessage(err) }, 'cannot read event timings');
      }
    }
    // Events from before this daemon's start, and storage notices, have no inference to time from.
    if (inferredAt === undefined) return;
    const ms = Math.max(0, at - inferredAt);
    this.rings[stage].push(ms);
    this.histogram?.observe({ stage }, ms);
    this.write(eventId, COLUMN[stage], at);
    // PUBACK is the last stage an event gets from the uplink; evidence may come later or never.
    if (stage === 'evidence') this.inferred.delete(eventId);
  }

  percentiles(): TierPercentiles {
    const out = {} as TierPercentiles;
    for (const s of STAGES) {
      const q = this.rings[s].quantiles([0.5, 0.99]);
      const n = this.rings[s].percentiles()?.samples ?? 0;
      out[s] = q ? { p50: round(q[0] ?? 0), p99: round(q[1] ?? 0), samples: n, limit_ms: STAGE_LIMIT_MS[s] } : null;
    }
    return out;
  }

  private write(eventId: string, column: TimingStage, at: number): void {
    try {
      this.store.recordTiming(eventId, column, at);
    } catch (err) {
      this.log.warn({ event: eventId, stage: column, err: errorMessage(err) }, 'cannot store an event timing');
    }
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100;
