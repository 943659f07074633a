import type { Review as StoredReview } from '../store/annotations.js';
import type { LabelSource, Review } from './device-learner.js';

/** Where the operators' verdicts live: the event store's `reviews` table (events.ack, from vigilctl or the hub). */
export interface ReviewSource {
  listReviews(): StoredReview[];
}

/** The event store's reviews as the learner's labels. */
export function reviewLabels(source: ReviewSource): LabelSource {
  return {
    listReviews: (): Review[] => source.listReviews().map((r) => ({ eventId: r.event_id, verdict: r.verdict, ts: r.ts })),
  };
}
