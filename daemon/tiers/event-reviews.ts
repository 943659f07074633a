import type { TypedControlTarget } from '../control/results.js';
import type { Review } from '../store/annotations.js';
import type { EventStore } from '../store/event-store.js';
import { describeEvidence, type EvidenceFileDetail } from '../evidence/evidence-detail.js';
import type { StoredEvent } from '../store/types.js';

/** Stage delays after inference, ms, as `events.show` reports them; null for a stage not (yet) reached. */
export interface StageDelays {
  commit_ms: number | null;
  action_ms: number | null;
  puback_ms: number | null;
  evidence_ms: number | null;
}

export interface EventDetail {
  event: StoredEvent;
  /** Wall-clock ISO time the frame's inference finished; null for events not timed (storage notices, older daemons). */
  inferred_at: string | null;
  timings: StageDelays | null;
  snapshot: { path: string; bytes: number; width: number; height: number } | null;
  review: Review | null;
  clip: { path: string; bytes: number; width: number; height: number; duration_s: number | null; truncated: string | null } | null;
  /** Every evidence file, checked against its sha256 now (evidence-detail.ts). */
  evidence: EvidenceFileDetail[];
}

const since = (at: number | null, from: number): number | null => (at === null ? null : Math.round((at - from) * 100) / 100);

/**
 * The review side of events for the control protocol (`events.show`, `events.ack`, `events.tail`),
 * over the store. The same methods reach the daemon from vigilctl over the local socket and from
 * the hub over the MQTT command channel.
 */
export class EventReviews {
  constructor(private readonly store: () => EventStore | null) {}

  private open(): EventStore {
    const store = this.store();
    if (!store) throw new Error('event store is closed');
    return store;
  }

  show(id: string): EventDetail {
    const store = this.open();
    const event = store.getEvent(id);
    if (!event) throw new Error(`no event ${id} on this device (never recorded, or evicted)`);
    const t = store.timings(id);
    const from = t?.inferredAt ?? null;
    const snap = store.snapshotOf(id);
    const clip = store.evidenceFile(id, 'clip');
    return {
      event,
      inferred_at: from === null ? null : new Date(from).toISOString(),
      timings: t && from !== null ? {
        commit_ms: since(t.committedAt, from), action_ms: since(t.actionAt, from), puback_ms: since(t.pubackAt, from), evidence_ms: since(t.evidenceAt, from),
      } : null,
      snapshot: snap ? { path: snap.path, bytes: snap.bytes, width: snap.width, height: snap.height } : null,
      review: store.getReview(id),
      clip: clip ? { path: clip.path, bytes: clip.bytes, width: clip.width, height: clip.height, duration_s: clip.durationS ?? null, truncated: clip.truncated ?? null } : null,
      evidence: describeEvidence(store.evidenceOf(id), (notice) => store.refuseEvidence(notice)),
    };
  }

  ack(a: { id: string; verdict: 'true_alarm' | 'false_alarm'; note?: string | undefined; by?: string | undefined }, now = Date.now()): Review {
    const review: Review = { event_id: a.id, verdict: a.verdict, note: a.note ?? null, source: a.by ?? 'local', ts: now };
    if (!this.open().reviewEvent(review)) throw new Error(`no event ${a.id} on this device (never recorded, or evicted)`);
    return review;
  }

  /** Events after the cursor, oldest first, and the cursor to ask with next. */
  tail(q: { after: string; limit: number }): { events: StoredEvent[]; next: string } {
    const events = this.open().eventsAfter(q.after, q.limit);
    return { events, next: events.at(-1)?.id ?? q.after };
  }

  /** The control-target methods, to spread into the daemon's ControlTarget. */
  target(): Required<Pick<TypedControlTarget, 'showEvent' | 'ackEvent' | 'tailEvents'>> {
    return { showEvent: (id) => this.show(id), ackEvent: (a) => this.ack(a), tailEvents: (q) => this.tail(q) };
  }
}
