import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { ToOutbox } from '../store/event-store.js';
import type { Verdict } from './device-learner.js';
import type { CropFrame } from './embedder.js';
import type { FeatureExtractor } from './extractor.js';
import type { EventContext } from './features.js';

/** What the screen needs of the event store: the two calls that queue a held alert or mark a kept one. */
export interface ScreenStore {
  enqueueForEvent(eventId: string, toOutbox: ToOutbox): unknown;
  mergePayload(eventId: string, fields: Record<string, unknown>): boolean;
}

export interface VerdictSource {
  /** The global round in use; null before the first model. Round 0 is the hub's untrained start. */
  readonly round: number | null;
  verdict(eventId: string): Verdict;
  readonly threshold: number;
}

/**
 * The hook between the event sink and the verifier. For every event with an object it extracts
 * features (so that reviewed events can be learned from, model or not). While a trained global
 * model is in use, the sink holds the event's upstream alert (`holds()` → record it without an
 * outbox message) and hands `release`: the alert is queued when the verifier scores it at or above
 * the threshold, and kept on the device, marked `verifier.likely_false_alarm`, when below. Anything
 * failing (no frame, no features, an embedding error) releases the alert: the verifier may only
 * ever hold back what it has actually scored.
 */
export class AlertScreen {
  private readonly suppressed = new Set<string>();
  held = 0;
  kept = 0;

  constructor(private readonly extractor: FeatureExtractor | null, private readonly verifier: VerdictSource,
    private readonly store: ScreenStore, private readonly log: Logger) {}

  /** Whether the sink should record this event without its upstream alert and let onEvent release it. */
  holds(hasObject: boolean, frame: CropFrame | undefined): boolean {
    return hasObject && frame !== undefined && this.extractor !== null && this.verifier.threshold > 0 && (this.verifier.round ?? 0) >= 1;
  }

  /** Called right after the event is committed; never throws, never blocks the caller. */
  onEvent(eventId: string, frame: CropFrame | undefined, context: EventContext | undefined, release: ToOutbox | null): void {
    if (release) this.held++;
    void this.run(eventId, frame, context, release);
  }

  private async run(eventId: string, frame: CropFrame | undefined, context: EventContext | undefined, release: ToOutbox | null): Promise<void> {
    let verdict: Verdict | null = null;
    try {
      if (this.extractor && frame && context) {
        const vec = await this.extractor.onEventOpened(eventId, frame, context);
        if (vec && release) verdict = this.verifier.verdict(eventId);
      }
    } catch (err) {
      this.log.warn({ event: eventId, err: errorMessage(err) }, 'verifier failed: the alert goes upstream');
    }
    if (!release) return;
    try {
      if (verdict?.p !== null && verdict?.p !== undefined) {
        this.store.mergePayload(eventId, { verifier: { p: Number(verdict.p.toFixed(4)), round: verdict.round, likely_false_alarm: verdict.suppress } });
      }
      if (verdict?.suppress) {
        this.remember(eventId);
        this.kept++;
        this.log.info({ event: eventId, p: verdict.p, round: verdict.round }, 'likely false alarm kept on the device');
        return;
      }
      this.store.enqueueForEvent(eventId, release);
    } catch (err) {
      this.log.error({ event: eventId, err: errorMessage(err) }, 'cannot queue a screened alert');
    }
  }

  /** The sink sends no update or end upstream for an event whose start it kept. */
  isSuppressed(eventId: string): boolean {
    return this.suppressed.has(eventId);
  }

  private remember(id: string): void {
    this.suppressed.add(id);
    if (this.suppressed.size > 10_000) {
      const oldest = this.suppressed.values().next().value;
      if (oldest !== undefined) this.suppressed.delete(oldest);
    }
  }
}
