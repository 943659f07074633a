import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { AccessUnit, AccessUnitListener } from '../video/access-unit.js';
import { frameFragment, initSegment, type InitSegment } from './fmp4-fragments.js';
import type { PictureSource } from './stream-pictures.js';

/** What the live view reads of the streams (the StreamSupervisor): compressed video, and the newest objects. */
export interface LiveSource extends Pick<PictureSource, 'latestObjects'> {
  onAccessUnit(id: string, listener: AccessUnitListener): () => void;
}

/** A viewer this far behind (bytes queued on its socket) is closed: it would only fall further behind. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Access units waiting for the init segment, at most; beyond, the viewer is closed rather than the daemon buffering for it. */
const MAX_PENDING_UNITS = 120;
const OVERLAY_EVERY_MS = 200;
const FIRST_MESSAGE_MS = 10_000;

/**
 * Live video for the console without re-encoding: the stream's access units (VideoStream's
 * access-unit branch) as fragmented MP4, one fragment per frame (fmp4-fragments.ts), sent over a
 * WebSocket as binary messages for Media Source, with JSON text messages beside them:
 * `{type: "init", codec, width, height, wall_ms}` before each init segment (at the start and after
 * a pipeline restart or a change of the camera's stream), `{type: "overlay", ...}` when the analysed
 * objects change (at most 5 a second), `{type: "error", message}` before a close.
 *
 * The view starts at the next keyframe and then lags by one frame plus the network. Each viewer
 * costs a few small boxes per frame around units the branch pulls anyway; a slow viewer is closed
 * (1013) rather than buffered for. At most `max` viewers at once.
 */
export class LiveViews {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false });
  private readonly viewers = new Set<WebSocket>();

  constructor(private readonly source: LiveSource | null, private readonly max: number, private readonly known: (stream: string) => boolean,
    private readonly log: Logger) {}

  get count(): number {
    return this.viewers.size;
  }

  /** Takes an authenticated upgrade request: answered with a refusal when it cannot be served. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, user: string): void {
    if (this.source === null) return refuse(socket, 503, 'live video is not available in this daemon: poll snapshot.jpg');
    if (this.viewers.size >= this.max) return refuse(socket, 503, `${this.max} live views are open already (console.max_viewers): poll snapshot.jpg`);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws, user));
  }

  stop(): void {
    for (const ws of this.viewers) ws.terminate();
    this.viewers.clear();
    this.wss.close();
  }

  private serve(ws: WebSocket, user: string): void {
    const source = this.source;
    if (source === null) return;
    this.viewers.add(ws);
    let end = (): void => undefined;
    const waiting = setTimeout(() => ws.close(1008, 'send {"stream": "<id>"} first'), FIRST_MESSAGE_MS);
    ws.on('error', (err) => this.log.debug({ user, err: errorMessage(err) }, 'live view socket error'));
    ws.on('close', () => {
      clearTimeout(waiting);
      this.viewers.delete(ws);
      end();
    });
    ws.once('message', (data: RawData, binary: boolean) => {
      clearTimeout(waiting);
      const stream = binary ? null : streamOf(data);
      if (stream === null || !this.known(stream)) {
        send(ws, { type: 'error', message: 'the first message must be {"stream": "<id>"} naming a stream of this device' });
        ws.close(1008, 'unknown stream');
        return;
      }
      this.log.info({ user, stream, viewers: this.viewers.size }, 'live view opened');
      const viewer = new LiveViewer(ws, this.log);
      const unsubscribe = source.onAccessUnit(stream, (au) => viewer.push(au));
      let lastTs: number | null = null;
      const overlays = setInterval(() => {
        const seen = source.latestObjects?.(stream) ?? null;
        if (seen === null || seen.at === lastTs) return;
        lastTs = seen.at ?? null;
        send(ws, {
          type: 'overlay', ts: seen.at ?? null, width: seen.width, height: seen.height,
          tracks: seen.objects.map((o) => ({ id: o.id, label: o.label, score: o.score ?? null, box: o.box.map(Math.round) })),
        });
      }, OVERLAY_EVERY_MS);
      end = () => {
        clearInterval(overlays);
        unsubscribe();
        viewer.close();
        this.log.info({ user, stream }, 'live view closed');
      };
      if (ws.readyState !== ws.OPEN) end();
    });
  }
}

/**
 * One viewer: from a keyframe on, an init segment, then each frame as its own fragment once the
 * next one gives its duration (one frame of delay). A new epoch (pipeline restart, new stream
 * headers) starts over at its first keyframe with a new init segment.
 */
class LiveViewer {
  private epoch = -1;
  private init: InitSegment | null = null;
  /** Units that came while the init segment was being made. */
  private queued: AccessUnit[] = [];
  private held: AccessUnit | null = null;
  private firstPtsMs = 0;
  private endMs = 0;
  private seq = 1;
  private closed = false;

  constructor(private readonly ws: WebSocket, private readonly log: Logger) {}

  push(au: AccessUnit): void {
    if (this.closed) return;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES || this.queued.length > MAX_PENDING_UNITS) {
      this.fail(1013, 'the live view fell too far behind: reconnect or use snapshots');
      return;
    }
    if (au.epoch !== this.epoch) {
      if (!au.key) return;
      this.start(au);
      return;
    }
    if (this.init === null) this.queued.push(au);
    else this.emit(au);
  }

  close(): void {
    this.closed = true;
    this.queued = [];
    this.held = null;
  }

  private start(au: AccessUnit): void {
    const epoch = au.epoch;
    this.epoch = epoch;
    this.init = null;
    this.held = null;
    this.queued = [au];
    this.firstPtsMs = au.ptsMs;
    this.endMs = 0;
    initSegment(au).then((init) => {
      if (this.closed || this.epoch !== epoch) return;
      send(this.ws, { type: 'init', codec: au.track.codecString, width: au.track.width, height: au.track.height, wall_ms: au.wallMs });
      this.ws.send(init.bytes);
      this.init = init;
      const queued = this.queued;
      this.queued = [];
      for (const u of queued) this.emit(u);
    }, (err: unknown) => {
      this.log.warn({ err: errorMessage(err) }, 'live view: no init segment for the stream');
      this.fail(1011, `cannot mux the stream: ${errorMessage(err)}`);
    });
  }

  private emit(au: AccessUnit): void {
    const prev = this.held;
    this.held = au;
    const init = this.init;
    if (prev === null || init === null) return;
    // As the clip muxer does: a step that is zero or negative (a clock that stood still) becomes the caps' frame interval.
    const nominal = au.track.fps > 0 ? 1000 / au.track.fps : 40;
    const step = au.ptsMs - prev.ptsMs > 0 ? au.ptsMs - prev.ptsMs : nominal;
    const startMs = Math.max(prev.ptsMs - this.firstPtsMs, this.endMs);
    this.endMs = startMs + step;
    const ticks = init.timescale / 1000;
    this.ws.send(frameFragment(this.seq++, init.trackId, startMs * ticks, step * ticks, prev.data, prev.key));
  }

  private fail(code: number, message: string): void {
    if (this.closed) return;
    send(this.ws, { type: 'error', message });
    this.close();
    this.ws.close(code, message.slice(0, 120));
  }
}

function streamOf(data: RawData): string | null {
  try {
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    const msg = JSON.parse(text) as { stream?: unknown };
    return typeof msg.stream === 'string' && msg.stream.length <= 64 ? msg.stream : null;
  } catch {
    return null;
  }
}

function send(ws: WebSocket, msg: unknown): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
}

function refuse(socket: Duplex, status: number, message: string): void {
  socket.end(`HTTP/1.1 ${status} ${status === 503 ? 'Service Unavailable' : 'Error'}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${message}\n`);
}
