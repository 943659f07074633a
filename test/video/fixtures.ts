import { streamSchema, type StreamConfig } from '../../daemon/config/schema.js';
import { createLogger, type Logger } from '../../daemon/log.js';
import type { Frame } from '../../daemon/video/frame.js';
import { VideoStream, type VideoStreamOptions } from '../../daemon/video/stream.js';

/** A stream config as the loader would produce it, with test-friendly restart timings. */
export function streamConfig(id: string, uri: string, over: Partial<StreamConfig> = {}): StreamConfig {
  return { ...streamSchema.parse({ id, uri, restart_min_ms: 100, restart_max_ms: 400, stall_timeout_ms: 3000 }), ...over };
}

/** A logger whose JSON lines are kept for assertions. */
export function capturedLogger(level = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger(level, { write: (s: string) => { lines.push(s); } }), lines };
}

/** Starts a stream and stops it when the test ends, however it ends. */
export async function startStream(t: { after(fn: () => Promise<void>): void }, config: StreamConfig,
  opts: VideoStreamOptions): Promise<VideoStream> {
  const s = new VideoStream(config, opts);
  t.after(() => s.stop());
  await s.start(new AbortController().signal);
  return s;
}

/** Takes `n` frames, failing if the stream ends first. */
export async function takeFrames(s: VideoStream, n: number): Promise<Frame[]> {
  const out: Frame[] = [];
  while (out.length < n) {
    const f = await s.next();
    if (f === null) throw new Error(`stream ended after ${out.length} of ${n} frames: ${JSON.stringify(s.status())}`);
    out.push(f);
  }
  return out;
}
