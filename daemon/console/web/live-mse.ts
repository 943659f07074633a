import { FIRST_VIDEO_MS, openLiveSocket, type InitMessage, type LiveTracks } from './live-socket.js';

export interface MseCallbacks {
  /** The tracks of the newest analysed frame (zones and lines come from /overlay, they change rarely). */
  onTracks(o: LiveTracks): void;
  /** A frame was presented: the wall clock it was captured at, when the daemon said (init wall_ms + media time). */
  onFrame(capturedAt: number | null): void;
  /** The live view cannot go on (codec not playable, refused, closed): the caller falls back to snapshots. */
  onFail(reason: string): void;
}

/**
 * Keeping to the live edge. Frames may arrive in bursts (a file source sends about half a second at
 * once), so the picture must stay behind the newest frame by a burst, or it would run dry and the
 * browser would stop to rebuffer, which costs more than it saves. What is measured is the least the
 * picture was behind in the last second (just before a burst): above LEAD_MAX_S it plays a little
 * faster until it is under LEAD_MIN_S. More than JUMP_S behind (a hidden tab) it jumps.
 */
const LEAD_MAX_S = 0.15;
const LEAD_MIN_S = 0.05;
const JUMP_S = 3;
const WINDOW_MS = 1000;


/**
 * The camera's own video, without re-encoding: /api/live sends fragmented MP4 (an init segment, then
 * one fragment per frame) over a WebSocket, which goes into a Media Source on `video`. The picture is
 * kept at the live edge: when it lags (a slow tab, a hidden page) it jumps forward instead of playing
 * the backlog. Anything the browser cannot do (the codec, Media Source itself) is reported through
 * onFail, and the live tile polls snapshots instead.
 */
export class MseFeed {
  private socket: { close(): void } | null = null;
  private source: MediaSource | null = null;
  private buffer: SourceBuffer | null = null;
  private readonly queue: ArrayBuffer[] = [];
  private init: InitMessage | null = null;
  private stopped = false;
  private failed = false;
  private frameCallback = 0;
  private objectUrl: string | null = null;
  private noInit = 0;
  private lastEnd = 0;
  private leads: { at: number; lead: number }[] = [];

  constructor(private readonly stream: string, private readonly video: HTMLVideoElement, private readonly cb: MseCallbacks) {}

  static supported(): boolean {
    return typeof window.MediaSource === 'function' && typeof window.WebSocket === 'function';
  }

  start(): void {
    this.socket = openLiveSocket(this.stream, {
      onInit: (msg) => this.begin(msg),
      onBinary: (data) => this.append(data),
      onTracks: (o) => this.cb.onTracks(o),
      onClose: (reason) => this.fail(reason),
    });
    this.noInit = window.setTimeout(() => this.fail(`no video within ${FIRST_VIDEO_MS / 1000} s`), FIRST_VIDEO_MS);
    this.watchFrames();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.noInit);
    this.socket?.close();
    this.socket = null;
    const v = this.video as HTMLVideoElement & { cancelVideoFrameCallback?: (h: number) => void };
    v.cancelVideoFrameCallback?.(this.frameCallback);
    this.video.removeAttribute('src');
    this.video.load();
    if (this.objectUrl !== null) URL.revokeObjectURL(this.objectUrl);
  }

  private fail(reason: string): void {
    if (this.stopped || this.failed) return;
    this.failed = true;
    this.stop();
    this.cb.onFail(reason);
  }

  /** An init segment follows: (re)create the Media Source for its codec, or give up if the browser cannot play it. */
  private begin(init: InitMessage): void {
    const mime = `video/mp4; codecs="${init.codec}"`;
    if (!MediaSource.isTypeSupported(mime)) {
      this.fail(`this browser cannot play ${init.codec}`);
      return;
    }
    window.clearTimeout(this.noInit);
    this.lastEnd = 0;
    this.leads = [];
    this.init = init;
    this.queue.length = 0;
    this.buffer = null;
    if (this.objectUrl !== null) URL.revokeObjectURL(this.objectUrl);
    const source = new MediaSource();
    this.source = source;
    this.objectUrl = URL.createObjectURL(source);
    this.video.src = this.objectUrl;
    source.addEventListener('sourceopen', () => {
      if (this.source !== source) return;
      try {
        const sb = source.addSourceBuffer(mime);
        sb.mode = 'segments';
        sb.addEventListener('updateend', () => this.drain());
        sb.addEventListener('error', () => this.fail('the browser refused the live video'));
        this.buffer = sb;
        this.drain();
        this.video.play().catch(() => undefined);
      } catch (err) {
        this.fail(`Media Source: ${err instanceof Error ? err.message : String(err)}`);
      }
    }, { once: true });
  }

  private append(data: ArrayBuffer): void {
    if (this.init === null) return;
    this.queue.push(data);
    this.drain();
  }

  private drain(): void {
    const sb = this.buffer;
    if (sb === null || sb.updating || this.queue.length === 0) return;
    try {
      sb.appendBuffer(this.queue.shift()!);
    } catch (err) {
      // QuotaExceeded: the buffer is full of the past; keep the last few seconds only.
      if (err instanceof DOMException && err.name === 'QuotaExceededError' && this.video.currentTime > 5) sb.remove(0, this.video.currentTime - 2);
      else this.fail(`Media Source: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.keepLive();
  }

  private keepLive(): void {
    const v = this.video;
    const b = v.buffered;
    if (b.length === 0) return;
    const end = b.end(b.length - 1);
    // Before this append the picture was this far behind what it had: the lead it plays from.
    const lead = Math.max(0, this.lastEnd - v.currentTime);
    this.lastEnd = end;
    const now = performance.now();
    this.leads.push({ at: now, lead });
    while (this.leads.length > 0 && now - this.leads[0]!.at > WINDOW_MS) this.leads.shift();
    const least = Math.min(...this.leads.map((l) => l.lead));
    if (end - v.currentTime > JUMP_S) v.currentTime = Math.max(b.start(b.length - 1), end - 0.5);
    else if (least > LEAD_MAX_S) v.playbackRate = 1.1;
    else if (least < LEAD_MIN_S) v.playbackRate = 1;
    if (v.paused) v.play().catch(() => undefined);
  }

  /** Each presented frame, with its capture time: the init's wall clock plus the frame's media time. */
  private watchFrames(): void {
    const v = this.video as HTMLVideoElement & {
      requestVideoFrameCallback?: (cb: (now: number, meta: { mediaTime: number }) => void) => number;
    };
    if (typeof v.requestVideoFrameCallback !== 'function') {
      v.addEventListener('timeupdate', () => this.cb.onFrame(null));
      return;
    }
    const request = v.requestVideoFrameCallback.bind(v);
    const each = (_now: number, meta: { mediaTime: number }): void => {
      if (this.stopped) return;
      this.cb.onFrame(this.init === null ? null : this.init.wall_ms + meta.mediaTime * 1000);
      this.frameCallback = request(each);
    };
    this.frameCallback = request(each);
  }
}
