import type { FrameSource } from '../analytics/ports.js';
import type { Frame } from '../video/frame.js';

/**
 * Passes frames through unchanged and remembers the one being analysed, so the event sink (which
 * sees rule hits, not frames) can hand the verifier the frame an event was detected in. The
 * analysis loop awaits each frame before pulling the next, so when the sink runs, the remembered
 * frame is the one that produced the hit. Costs a reference per frame, no copy.
 */
export function tapFrames(source: FrameSource, onFrame: (frame: Frame) => void): FrameSource {
  return {
    async *frames(signal: AbortSignal): AsyncIterable<Frame> {
      for await (const frame of source.frames(signal)) {
        onFrame(frame);
        yield frame;
      }
    },
  };
}
