import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../api.js';
import { SnapshotFeed, type LiveFrame } from '../live-feed.js';
import { drawFrame } from '../overlay-draw.js';

/**
 * One live tile: the stream's newest frame with its tracks, zones and lines drawn over it. What it
 * shows is also written on the canvas as data attributes (frames shown, the last frame's capture
 * time, the delay from capture and from request to screen, when the first frame appeared): the
 * browser tests read the latency and the page's time to first frame there.
 */
export function LiveView({ stream, fps = 4, overlay = true }: { stream: string; fps?: number; overlay?: boolean }): preact.JSX.Element {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [error, setError] = useState<string | null>(null);
  const [waiting, setWaiting] = useState(true);
  useEffect(() => {
    const el = canvas.current;
    const ctx = el?.getContext('2d');
    if (!el || !ctx) return undefined;
    let frames = 0;
    const width = Math.min(1920, Math.max(320, (el.parentElement?.clientWidth ?? 640) * window.devicePixelRatio));
    const feed = new SnapshotFeed(stream, { fps, maxWidth: width, overlay }, (f: LiveFrame) => {
      drawFrame(ctx, f.image, f.overlay);
      f.image.close();
      frames += 1;
      const shownAt = Date.now();
      el.dataset['frames'] = String(frames);
      // Request to screen: what the console adds to the frame's age (encode, transfer, decode, draw).
      el.dataset['fetchMs'] = String(Math.round(performance.now() - f.requestedAt));
      if (f.frameTs !== null) {
        el.dataset['frameTs'] = String(f.frameTs);
        el.dataset['latencyMs'] = String(shownAt - f.frameTs);
      }
      if (frames === 1) {
        el.dataset['firstFrameMs'] = String(Math.round(performance.now()));
        setWaiting(false);
      }
      if (f.overlay) el.dataset['tracks'] = String(f.overlay.tracks.length);
      if (f.overlay) el.dataset['rules'] = [...f.overlay.zones, ...f.overlay.lines].map((g) => g.rule ?? '').join(',');
      setError(null);
    }, (err) => setError(errorText(err)));
    feed.start();
    return () => feed.stop();
  }, [stream, fps, overlay]);
  return (
    <div class="live">
      <canvas ref={canvas} class="live-canvas" data-stream={stream} aria-label={`live view of ${stream}`} />
      {waiting && <div class="live-wait">{error ?? 'waiting for the first frame…'}</div>}
      {!waiting && error !== null && <div class="live-error">{error}</div>}
    </div>
  );
}
