import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../api.js';
import { SnapshotFeed, type LiveFrame } from '../live-feed.js';
import { DecoderFeed } from '../live-decoder.js';
import { MseFeed } from '../live-mse.js';
import { drawFrame, drawOverlay } from '../overlay-draw.js';
import type { Overlay } from '../types.js';

export type LiveMode = 'video' | 'jpeg';
/** `auto`: video, but snapshots when the video cannot play or lags more than MAX_LAG_MS for LAG_WINDOW_MS on end. */
export type LivePreference = LiveMode | 'auto';

const MAX_LAG_MS = 1000;
const LAG_WINDOW_MS = 5000;

/**
 * How video reaches the screen: decoded in the page with WebCodecs where there is a VideoDecoder
 * (secure contexts: https or loopback), drawn at once; else Media Source, which buffers more.
 */
const VIDEO_WAY: 'webcodecs' | 'mse' | null = DecoderFeed.supported() ? 'webcodecs' : MseFeed.supported() ? 'mse' : null;

/** How often the video mode asks for the rules' zones and lines (the tracks come with the video). */
const GEOMETRY_EVERY_MS = 2000;

/**
 * One live tile: the stream's picture with its tracks, zones and lines drawn over it. The camera's
 * own video through Media Source where the browser plays its codec (/api/live), else (or when the
 * device refuses another viewer, or the video lags more than a second) the newest frame as a JPEG a
 * few times a second. What the tile
 * shows is also written on its canvas as data attributes (mode, frames shown, the last frame's
 * capture time, the delay from capture to screen, from request to screen for JPEGs, when the first
 * frame appeared): the browser tests read latency and time to first frame there.
 */
export function LiveView({ stream, fps = 4, overlay = true, prefer = 'auto', geometryVersion = 0 }: {
  stream: string; fps?: number; overlay?: boolean; prefer?: LivePreference;
  /** Changed by the editor after a save: the zones and lines are asked for at once, not at the next round. */
  geometryVersion?: number;
}): preact.JSX.Element {
  const [mode, setMode] = useState<LiveMode>(prefer !== 'jpeg' && VIDEO_WAY !== null ? 'video' : 'jpeg');
  const [fallback, setFallback] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [waiting, setWaiting] = useState(true);
  const [aspect, setAspect] = useState<string | null>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const video = useRef<HTMLVideoElement>(null);
  const refreshGeometry = useRef<(() => void) | null>(null);
  useEffect(() => refreshGeometry.current?.(), [geometryVersion]);

  useEffect(() => {
    setMode(prefer !== 'jpeg' && VIDEO_WAY !== null ? 'video' : 'jpeg');
    setFallback(null);
  }, [stream, prefer]);

  useEffect(() => {
    const el = canvas.current;
    const ctx = el?.getContext('2d');
    if (!el || !ctx) return undefined;
    let frames = 0;
    setWaiting(true);
    el.dataset['mode'] = mode;
    const shown = (capturedAt: number | null, requestedAt: number | null): void => {
      frames += 1;
      el.dataset['frames'] = String(frames);
      if (capturedAt !== null) {
        el.dataset['frameTs'] = String(Math.round(capturedAt));
        el.dataset['latencyMs'] = String(Math.round(Date.now() - capturedAt));
      }
      // Request to screen: what the console adds to the frame's age (encode, transfer, decode, draw).
      if (requestedAt !== null) el.dataset['fetchMs'] = String(Math.round(performance.now() - requestedAt));
      if (frames === 1) {
        el.dataset['firstFrameMs'] = String(Math.round(performance.now()));
        setWaiting(false);
      }
    };
    const noteRules = (o: Overlay): void => {
      el.dataset['tracks'] = String(o.tracks.length);
      el.dataset['rules'] = [...o.zones, ...o.lines].map((g) => g.rule ?? '').join(',');
    };

    if (mode === 'jpeg') {
      const width = Math.min(1920, Math.max(320, (el.parentElement?.clientWidth ?? 640) * window.devicePixelRatio));
      const feed = new SnapshotFeed(stream, { fps, maxWidth: width, overlay }, (f: LiveFrame) => {
        drawFrame(ctx, f.image, f.image.width, f.image.height, f.overlay);
        setAspect(`${f.image.width} / ${f.image.height}`);
        f.image.close();
        if (f.overlay) noteRules(f.overlay);
        shown(f.frameTs, f.requestedAt);
        setError(null);
      }, (err) => setError(errorText(err)));
      feed.start();
      return () => feed.stop();
    }

    // The lag watchdog of `auto`: since when every frame shown was more than MAX_LAG_MS old.
    let laggingSince: number | null = null;
    const watchLag = (capturedAt: number | null): void => {
      if (prefer !== 'auto' || capturedAt === null) return;
      const lag = Date.now() - capturedAt;
      if (lag <= MAX_LAG_MS) laggingSince = null;
      else if (laggingSince === null) laggingSince = Date.now();
      else if (Date.now() - laggingSince > LAG_WINDOW_MS) {
        setFallback(`the video ran ${(lag / 1000).toFixed(1)} s behind (#/streams?live=video keeps it)`);
        setMode('jpeg');
      }
    };
    let stopped = false;
    let geometryTimer = 0;
    let current: Overlay = { ts: null, width: null, height: null, tracks: [], zones: [], lines: [] };
    /** Zones and lines change rarely: asked every GEOMETRY_EVERY_MS, and at once after a save (geometryVersion). */
    const geometry = async (redraw: () => void): Promise<void> => {
      window.clearTimeout(geometryTimer);
      try {
        if (document.visibilityState === 'visible') {
          const r = await fetch(`/api/streams/${encodeURIComponent(stream)}/overlay`, { cache: 'no-store', credentials: 'same-origin' });
          if (r.ok) {
            const o = await r.json() as Overlay;
            current = { ...current, zones: o.zones, lines: o.lines, width: current.width ?? o.width, height: current.height ?? o.height };
            noteRules(current);
            redraw();
          }
        }
      } catch {
        // The next round asks again; the video goes on meanwhile.
      }
      if (!stopped && overlay) geometryTimer = window.setTimeout(() => void geometry(redraw), GEOMETRY_EVERY_MS);
    };
    const fallBack = (reason: string): void => {
      if (stopped) return;
      setFallback(reason);
      setMode('jpeg');
    };

    if (VIDEO_WAY === 'webcodecs') {
      // Video decoded in the page: each frame drawn on the canvas with the overlay, at its capture time plus the jitter delay.
      el.dataset['video'] = 'webcodecs';
      const feed = new DecoderFeed(stream, {
        onTracks: (o) => {
          if (overlay) current = { ...current, ...o };
          noteRules(current);
        },
        onFrame: (frame, capturedAt) => {
          drawFrame(ctx, frame, frame.displayWidth, frame.displayHeight, overlay ? current : null);
          setAspect(`${frame.displayWidth} / ${frame.displayHeight}`);
          frame.close();
          shown(capturedAt, null);
          watchLag(capturedAt);
        },
        onFail: fallBack,
      });
      // Until the first keyframe is decoded, one snapshot stands in (not counted as a live frame).
      fetch(`/api/streams/${encodeURIComponent(stream)}/snapshot.jpg?overlay=0&max_width=${Math.round(Math.min(1920, Math.max(320, el.clientWidth * window.devicePixelRatio)))}`,
        { cache: 'no-store', credentials: 'same-origin' })
        .then(async (r) => {
          if (!r.ok) return;
          const image = await createImageBitmap(await r.blob());
          if (!stopped && el.dataset['frames'] === undefined) drawFrame(ctx, image, image.width, image.height, null);
          image.close();
        })
        .catch(() => undefined);
      feed.start();
      if (overlay) {
        void geometry(() => undefined);
        refreshGeometry.current = () => void geometry(() => undefined);
      }
      return () => {
        stopped = true;
        window.clearTimeout(geometryTimer);
        refreshGeometry.current = null;
        feed.stop();
      };
    }

    // Video: the picture is the <video>; the canvas over it carries only the overlay, redrawn when
    // the tracks (with the video) or the geometry (asked every 2 s) change, or the tile is resized.
    const v = video.current;
    if (!v) return undefined;
    el.dataset['video'] = 'mse';
    const redraw = (): void => {
      const w = Math.round(el.clientWidth * window.devicePixelRatio);
      const h = Math.round(el.clientHeight * window.devicePixelRatio);
      if (el.width !== w || el.height !== h) {
        el.width = w;
        el.height = h;
      }
      ctx.clearRect(0, 0, el.width, el.height);
      drawOverlay(ctx, current);
    };
    const feed = new MseFeed(stream, v, {
      onTracks: (o) => {
        if (!overlay) return;
        current = { ...current, ...o };
        noteRules(current);
        redraw();
      },
      onFrame: (capturedAt) => {
        shown(capturedAt, null);
        watchLag(capturedAt);
      },
      onFail: fallBack,
    });
    // Until the video reaches its first keyframe, one snapshot stands in as the poster.
    let poster: string | null = null;
    fetch(`/api/streams/${encodeURIComponent(stream)}/snapshot.jpg?overlay=0&max_width=${Math.round(Math.min(1920, Math.max(320, el.clientWidth * window.devicePixelRatio)))}`,
      { cache: 'no-store', credentials: 'same-origin' })
      .then(async (r) => {
        if (!r.ok || stopped) return;
        poster = URL.createObjectURL(await r.blob());
        v.poster = poster;
      })
      .catch(() => undefined);
    const resized = new ResizeObserver(redraw);
    resized.observe(el);
    const sized = (): void => setAspect(`${v.videoWidth} / ${v.videoHeight}`);
    v.addEventListener('loadedmetadata', sized);
    feed.start();
    if (overlay) {
      void geometry(redraw);
      refreshGeometry.current = () => void geometry(redraw);
    }
    return () => {
      stopped = true;
      refreshGeometry.current = null;
      window.clearTimeout(geometryTimer);
      resized.disconnect();
      v.removeEventListener('loadedmetadata', sized);
      feed.stop();
      if (poster !== null) URL.revokeObjectURL(poster);
    };
  }, [stream, fps, overlay, mode, prefer]);

  return (
    <div class={`live live-${mode}`} style={aspect === null ? undefined : { aspectRatio: aspect }}>
      {mode === 'video' && VIDEO_WAY === 'mse' && <video ref={video} class="live-video" muted playsInline autoplay disablePictureInPicture />}
      <canvas ref={canvas} class="live-canvas" data-stream={stream} aria-label={`live view of ${stream}`} />
      {waiting && <div class="live-wait">{error ?? 'waiting for the first frame…'}</div>}
      {!waiting && error !== null && <div class="live-error">{error}</div>}
      {fallback !== null && <div class="live-note" title={fallback}>snapshots: {fallback}</div>}
    </div>
  );
}
