import { embedderLook, type Look } from '../analytics/tracker/appearance.js';
import type { StreamConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { Embedder } from '../learning/embedder.js';
import type { Logger } from '../log.js';
import type { Frame } from '../video/frame.js';

/**
 * The tracker's appearance cue for the streams that ask for it (`tracker.appearance.enabled`):
 * one OSNet session for the whole daemon (`learning.embedding_model`, the file the alert verifier
 * uses), opened when the first such stream starts. A model that cannot be opened costs the cue,
 * not the stream: the stream is tracked on motion alone and the journal says why, once.
 */
export class AppearanceLooks {
  private opening: Promise<Embedder | null> | null = null;

  constructor(private readonly modelPath: string | undefined, private readonly threads: number, private readonly log: Logger) {}

  /** What the stream's analyzer gives its tracker with each frame; null when the stream does not want the cue or it is unusable. */
  async lookFor(config: StreamConfig): Promise<((frame: Frame) => Look) | null> {
    if (!config.tracker.appearance.enabled) return null;
    const embedder = await (this.opening ??= this.open());
    return embedder ? (frame) => embedderLook(embedder, frame) : null;
  }

  private async open(): Promise<Embedder | null> {
    if (this.modelPath === undefined) {
      // The config check refuses this combination; kept for a config built in code.
      this.log.error('tracker.appearance.enabled needs learning.embedding_model: tracking on motion alone');
      return null;
    }
    try {
      return await Embedder.open(this.modelPath, this.threads);
    } catch (err) {
      this.log.error({ model: this.modelPath, err: errorMessage(err) }, 'appearance model unusable: tracking on motion alone');
      return null;
    }
  }

  async close(): Promise<void> {
    const embedder = await this.opening;
    this.opening = null;
    await embedder?.close().catch(() => undefined);
  }
}
