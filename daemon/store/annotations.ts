import type { Database, Statement } from 'better-sqlite3';
import { z } from 'zod';

/**
 * What is stored about an event besides the event itself: how fast each response tier answered
 * and the operator's review. One table each (migration 3), sharing the event store's connection;
 * these are written after the event's own commit, never in its way. Evidence files have their own
 * table (evidence-table.ts).
 */

/** Wall-clock times, ms since the epoch (fractional), of each stage of an event's response. */
export interface EventTimings {
  inferredAt: number | null;
  committedAt: number | null;
  actionAt: number | null;
  pubackAt: number | null;
  evidenceAt: number | null;
}
export type TimingStage = keyof EventTimings;

export const verdictSchema = z.enum(['true_alarm', 'false_alarm']);
export type Verdict = z.infer<typeof verdictSchema>;

/** A row of `reviews`: the label the federated-learning work reads back. */
export interface Review {
  event_id: string;
  verdict: Verdict;
  note: string | null;
  /** Who gave it: `vigilctl:<user>`, `hub:<client>`. */
  source: string;
  /** When, ms since the epoch. */
  ts: number;
}

/** An evidence snapshot as `EventStore.snapshotOf` returns it (a subset of StoredEvidenceFile). */
export interface Snapshot {
  eventId: string;
  /** Absolute path of the JPEG. */
  path: string;
  bytes: number;
  width: number;
  height: number;
  createdAt: number;
}

const COLUMNS: Readonly<Record<TimingStage, string>> = {
  inferredAt: 'inferred_at', committedAt: 'committed_at', actionAt: 'action_at', pubackAt: 'puback_at', evidenceAt: 'evidence_at',
};

interface TimingRow { inferred_at: number | null; committed_at: number | null; action_at: number | null; puback_at: number | null; evidence_at: number | null }

export class Annotations {
  private readonly setStage = new Map<TimingStage, Statement<[string, number]>>();
  private readonly timingOf: Statement<[string], TimingRow>;
  private readonly upsertReview: Statement<[string, string, string | null, string, number]>;
  private readonly reviewOf: Statement<[string], Review>;
  private readonly reviewsAll: Statement<[number, number], Review>;

  constructor(db: Database) {
    for (const [stage, column] of Object.entries(COLUMNS) as [TimingStage, string][]) {
      // Upsert one column: stages arrive in any order (a PUBACK can beat a slow hook), each once.
      this.setStage.set(stage, db.prepare(`INSERT INTO event_timings (event_id, ${column}) VALUES (?, ?)
        ON CONFLICT (event_id) DO UPDATE SET ${column} = excluded.${column}`));
    }
    this.timingOf = db.prepare('SELECT inferred_at, committed_at, action_at, puback_at, evidence_at FROM event_timings WHERE event_id = ?');
    this.upsertReview = db.prepare(`INSERT INTO reviews (event_id, verdict, note, source, ts) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (event_id) DO UPDATE SET verdict = excluded.verdict, note = excluded.note, source = excluded.source, ts = excluded.ts`);
    this.reviewOf = db.prepare('SELECT event_id, verdict, note, source, ts FROM reviews WHERE event_id = ?');
    this.reviewsAll = db.prepare('SELECT event_id, verdict, note, source, ts FROM reviews WHERE ts >= ? ORDER BY ts, event_id LIMIT ?');
  }

  /** False when the event is gone (evicted, or never stored): the foreign key refuses the row. */
  setTiming(eventId: string, stage: TimingStage, at: number): boolean {
    try {
      this.setStage.get(stage)!.run(eventId, at);
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return false;
      throw err;
    }
  }

  timings(eventId: string): EventTimings | null {
    const r = this.timingOf.get(eventId);
    return r ? { inferredAt: r.inferred_at, committedAt: r.committed_at, actionAt: r.action_at, pubackAt: r.puback_at, evidenceAt: r.evidence_at } : null;
  }

  /** Stores (or replaces) the review of an event; false when there is no such event. */
  review(r: Review): boolean {
    try {
      this.upsertReview.run(r.event_id, r.verdict, r.note, r.source, r.ts);
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return false;
      throw err;
    }
  }

  getReview(eventId: string): Review | null {
    return this.reviewOf.get(eventId) ?? null;
  }

  listReviews(since = 0, limit = 10_000): Review[] {
    return this.reviewsAll.all(since, limit);
  }
}
