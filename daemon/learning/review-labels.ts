import type { LabelSource, Review } from './device-learner.js';

/**
 * Adapts whatever holds the operators' reviews to LabelSource. The event store's `listReviews()`
 * is being added in parallel; until it exists (or if its rows are shaped otherwise) this yields no
 * labels, and the learner waits with `too_few_labels` instead of failing.
 */
export function reviewLabels(source: object): LabelSource {
  return {
    listReviews(): Review[] {
      const list = (source as { listReviews?: () => unknown }).listReviews;
      if (typeof list !== 'function') return [];
      const rows: unknown = list.call(source);
      if (!Array.isArray(rows)) return [];
      const out: Review[] = [];
      for (const r of rows as Record<string, unknown>[]) {
        const eventId = r['eventId'] ?? r['event_id'];
        const verdict = r['verdict'];
        const ts = r['ts'];
        if (typeof eventId !== 'string' || (verdict !== 'true_alarm' && verdict !== 'false_alarm')) continue;
        out.push({ eventId, verdict, ts: typeof ts === 'number' ? ts : typeof ts === 'string' ? Date.parse(ts) : 0 });
      }
      return out;
    },
  };
}
