import type { AccessUnitListener } from '../video/access-unit.js';
import type { ClipRecorder } from './clip-recorder.js';

/** How a stream's access units are subscribed to (StreamSupervisor.onAccessUnit); returns the unsubscribe. */
export type AccessUnitSubscribe = (streamId: string, listener: AccessUnitListener) => () => void;

/**
 * Which streams' access units the clip recorder listens to: exactly those with a rule that gets
 * clips. The others are never subscribed, so their pipelines build no access-unit branch. `sync`
 * follows live changes (a stream added, a rule's clips turned on or off, a stream removed).
 */
export class ClipTaps {
  private readonly taps = new Map<string, () => void>();

  constructor(private readonly clips: ClipRecorder, private readonly subscribe: AccessUnitSubscribe) {}

  /** Before the streams start, so that each builds its branch from the start instead of restarting for it. */
  syncAll(streamIds: readonly string[]): void {
    for (const id of streamIds) this.sync(id);
  }

  sync(streamId: string): void {
    const tapped = this.taps.get(streamId);
    if (tapped) {
      this.clips.refresh(streamId);
      if (this.clips.wantsStream(streamId)) return;
      tapped();
      this.taps.delete(streamId);
      this.clips.detach(streamId);
      return;
    }
    const listener = this.clips.listenerFor(streamId);
    if (listener) this.taps.set(streamId, this.subscribe(streamId, listener));
  }

  /** The stream was removed: its clips complete with what they have. */
  drop(streamId: string): void {
    this.taps.get(streamId)?.();
    this.taps.delete(streamId);
    this.clips.detach(streamId);
  }
}
