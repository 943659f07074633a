import type { Overlay } from './types.js';

/** A picture to show: the newest frame the device had, when it was captured, and the overlay of that moment. */
export interface LiveFrame {
  image: ImageBitmap;
  /** Capture time of the frame (ms since the epoch) from the snapshot's header; null if the device did not say. */
  frameTs: number | null;
  overlay: Overlay | null;
  /** performance.now() when the request for this frame was sent. */
  requestedAt: number;
}

export interface FeedOptions {
  fps: number;
  /** Scale the snapshot down on the device to this width (the tile's width in device pixels). */
  maxWidth: number;
  overlay: boolean;
}

/** The header the console puts the frame's capture time in (ms since the epoch). */
export const FRAME_TS_HEADER = 'X-Frame-Ts';

/**
 * The JPEG fallback of the live view: asks for the stream's newest frame and overlay a few times a
 * second, one request pair at a time (a slow device or link lowers the rate instead of queueing
 * requests), and pauses while the page is hidden so that nobody watching costs the device nothing.
 */
export class SnapshotFeed {
  private running = false;
  private abort = new AbortController();
  private wake: (() => void) | null = null;

  constructor(
    private readonly stream: string,
    private readonly options: FeedOptions,
    private readonly onFrame: (f: LiveFrame) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    document.addEventListener('visibilitychange', this.visibility);
    void this.loop();
  }

  stop(): void {
    this.running = false;
    this.abort.abort();
    document.removeEventListener('visibilitychange', this.visibility);
    this.wake?.();
  }

  private readonly visibility = (): void => {
    if (document.visibilityState === 'visible') this.wake?.();
  };

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer = 0;
      const done = (): void => {
        window.clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      timer = window.setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    const period = 1000 / this.options.fps;
    const id = encodeURIComponent(this.stream);
    while (this.running) {
      if (document.visibilityState !== 'visible') {
        await this.sleep(60_000);
        continue;
      }
      const started = performance.now();
      try {
        const { signal } = this.abort;
        const [snap, overlay] = await Promise.all([
          fetch(`/api/streams/${id}/snapshot.jpg?overlay=0&max_width=${Math.round(this.options.maxWidth)}`, { signal, cache: 'no-store', credentials: 'same-origin' }),
          this.options.overlay
            ? fetch(`/api/streams/${id}/overlay`, { signal, cache: 'no-store', credentials: 'same-origin' }).then(async (r) => (r.ok ? await r.json() as Overlay : null))
            : Promise.resolve(null),
        ]);
        if (!snap.ok) throw new Error(await snapshotError(snap));
        const tsHeader = snap.headers.get(FRAME_TS_HEADER);
        const image = await createImageBitmap(await snap.blob());
        if (!this.running) {
          image.close();
          return;
        }
        const frameTs = tsHeader === null ? null : Number(tsHeader);
        this.onFrame({ image, frameTs: frameTs !== null && Number.isFinite(frameTs) ? frameTs : null, overlay, requestedAt: started });
        await this.sleep(Math.max(0, period - (performance.now() - started)));
      } catch (err) {
        if (!this.running) return;
        this.onError(err);
        // A stream that is starting or in backoff has no frame yet: ask again, but calmly.
        await this.sleep(1000);
      }
    }
  }
}

async function snapshotError(res: Response): Promise<string> {
  try {
    const body = await res.json() as { error?: { message?: string } };
    if (body.error?.message !== undefined) return body.error.message;
  } catch {
    // not JSON
  }
  return `snapshot: ${res.status} ${res.statusText}`;
}
