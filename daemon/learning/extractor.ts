import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { CropFrame, Embedder } from './embedder.js';
import { featureVector, type EventContext } from './features.js';
import type { LearningStore } from './learning-store.js';

/**
 * The hook the daemon calls when an event opens: the object's crop becomes an embedding, joined with
 * the event's context into one feature vector stored in learning.db under the event id. The crop
 * itself is never kept. Runs after the event is committed and off the analysis loop's await chain
 * (the caller does not wait), so a slow or failing embedding costs the frame path nothing.
 */
export class FeatureExtractor {
  private pending = 0;
  dropped = 0;
  extracted = 0;
  failed = 0;

  constructor(private readonly embedder: Embedder, private readonly store: LearningStore, private readonly log: Logger,
    /** Extractions in flight at once; beyond it an event gets no features (and is scored fail-open). */
    private readonly maxPending = 4) {}

  /**
   * Extracts and stores the features of one event. Resolves to the vector, or null when it was
   * dropped (too many in flight) or failed (logged, counted); never rejects.
   */
  async onEventOpened(eventId: string, frame: CropFrame, context: EventContext): Promise<Float32Array | null> {
    if (this.pending >= this.maxPending) {
      this.dropped++;
      return null;
    }
    this.pending++;
    try {
      const embedding = await this.embedder.embed(frame, context.box);
      const vec = featureVector(embedding, context);
      this.store.putFeatures(eventId, context.ts, vec);
      this.extracted++;
      return vec;
    } catch (err) {
      this.failed++;
      this.log.warn({ event: eventId, err: errorMessage(err) }, 'feature extraction failed');
      return null;
    } finally {
      this.pending--;
    }
  }
}
