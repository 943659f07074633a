import { FIRST_VIDEO_MS, openLiveSocket, type InitMessage, type LiveTracks } from './live-socket.js';
import { readFragment, readInit } from './mp4-boxes.js';

export interface DecoderCallbacks {
  onTracks(o: LiveTracks): void;
  /** A decoded frame is due on screen now: draw it (and close it). `capturedAt`: its wall clock at the device. */
  onFrame(frame: VideoFrame, capturedAt: number): void;
  onFail(reason: string): void;
}

/**
 * How long frames wait before they are shown, so that a burst (a file source sends about half a
 * second at once) plays out at its own pace instead of all at once: the most a frame was late on
 * arrival in the last WINDOW_MS, plus MARGIN_MS. It follows the link: it shrinks when bursts stop.
 */
const WINDOW_MS = 3000;
const MARGIN_MS = 40;
const MAX_DELAY_MS = 1500;

/**
 * The camera's own video decoded in the page with WebCodecs (VideoDecoder, in secure contexts:
 * https or loopback) from /api/live's fragments, each frame drawn at its capture time plus a small
 * jitter delay: no Media Source buffer to rebuffer, so the picture is a fraction of a second old.
 */
export class DecoderFeed {
  private socket: { close(): void } | null = null;
  private decoder: VideoDecoder | null = null;
  private init: InitMessage | null = null;
  private timescale = 90_000;
  private waitingForInitSegment = false;
  private needKey = true;
  private readonly due: { frame: VideoFrame; capturedAt: number }[] = [];
  private lateness: { at: number; ms: number }[] = [];
  private raf = 0;
  private noInit = 0;
  private stopped = false;

  constructor(private readonly stream: string, private readonly cb: DecoderCallbacks) {}

  static supported(): boolean {
    return typeof window.VideoDecoder === 'function' && typeof window.WebSocket === 'function';
  }

  start(): void {
    this.socket = openLiveSocket(this.stream, {
      onInit: (msg) => this.begin(msg),
      onBinary: (data) => this.take(data),
      onTracks: (o) => this.cb.onTracks(o),
      onClose: (reason) => this.fail(reason),
    });
    this.noInit = window.setTimeout(() => this.fail(`no video within ${FIRST_VIDEO_MS / 1000} s`), FIRST_VIDEO_MS);
    const tick = (): void => {
      if (this.stopped) return;
      this.show();
      this.raf = window.requestAnimationFrame(tick);
    };
    this.raf = window.requestAnimationFrame(tick);
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.noInit);
    window.cancelAnimationFrame(this.raf);
    this.socket?.close();
    this.socket = null;
    this.closeDecoder();
    for (const d of this.due.splice(0)) d.frame.close();
  }

  private fail(reason: string): void {
    if (this.stopped) return;
    this.stop();
    this.cb.onFail(reason);
  }

  private closeDecoder(): void {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
  }

  private begin(msg: InitMessage): void {
    window.clearTimeout(this.noInit);
    this.init = msg;
    this.waitingForInitSegment = true;
  }

  private take(data: ArrayBuffer): void {
    if (this.init === null) return;
    if (this.waitingForInitSegment) {
      this.waitingForInitSegment = false;
      this.configure(this.init, data);
      return;
    }
    const decoder = this.decoder;
    if (decoder === null || decoder.state !== 'configured') return;
    for (const s of readFragment(data)) {
      if (this.needKey && !s.key) continue;
      this.needKey = false;
      decoder.decode(new EncodedVideoChunk({ type: s.key ? 'key' : 'delta', timestamp: Math.round((s.decodeTime / this.timescale) * 1e6), data: s.data }));
    }
  }

  private configure(msg: InitMessage, segment: ArrayBuffer): void {
    const info = readInit(segment);
    if (info === null) {
      this.fail('the live video has no codec configuration');
      return;
    }
    this.closeDecoder();
    this.timescale = info.timescale;
    this.needKey = true;
    const config: VideoDecoderConfig = { codec: msg.codec, description: info.description, optimizeForLatency: true };
    VideoDecoder.isConfigSupported(config).then((r) => {
      if (this.stopped || this.init !== msg) return;
      if (r.supported !== true) {
        this.fail(`this browser cannot decode ${msg.codec}`);
        return;
      }
      const decoder = new VideoDecoder({
        output: (frame) => this.decoded(frame, msg),
        error: (err) => this.fail(`video decoder: ${err.message}`),
      });
      decoder.configure(config);
      this.decoder = decoder;
    }, (err: unknown) => this.fail(`video decoder: ${err instanceof Error ? err.message : String(err)}`));
  }

  private decoded(frame: VideoFrame, init: InitMessage): void {
    if (this.stopped) {
      frame.close();
      return;
    }
    const capturedAt = init.wall_ms + frame.timestamp / 1000;
    const now = Date.now();
    this.lateness.push({ at: now, ms: now - capturedAt });
    this.lateness = this.lateness.filter((l) => now - l.at <= WINDOW_MS);
    this.due.push({ frame, capturedAt });
  }

  /** Draws the newest frame that is due, and drops older ones (a slow tab skips instead of lagging). */
  private show(): void {
    if (this.due.length === 0) return;
    const delay = Math.min(MAX_DELAY_MS, Math.max(0, ...this.lateness.map((l) => l.ms)) + MARGIN_MS);
    const now = Date.now();
    let pick = -1;
    for (let i = 0; i < this.due.length; i++) if (this.due[i]!.capturedAt + delay <= now) pick = i;
    if (pick < 0) return;
    const shown = this.due.splice(0, pick + 1);
    for (const d of shown.slice(0, -1)) d.frame.close();
    const last = shown.at(-1)!;
    this.cb.onFrame(last.frame, last.capturedAt);
  }
}
