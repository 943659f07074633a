import type { AccessUnit, AccessUnitListener, TrackConfig } from './access-unit.js';
import type { GstAppSink, GstCaps } from './gst.js';
import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';
import { isKeyAccessUnit, nalLengthSize, sameTrack, trackFromCaps } from './nal.js';
import { PictureOrder } from './poc.js';

export interface AccessUnitStats {
  /** Access units pulled from the branch, delivered or not. */
  pulled: number;
  /** Key access units handed to listeners. */
  keyframes: number;
  /** Samples whose caps gave no usable track (logged once per epoch). */
  unusable: number;
  /** Listeners that threw (each time; the others still get the access unit). */
  listenerErrors: number;
}

/**
 * The pull loop of one stream's access-unit branch (pipeline.ts): each sample becomes an
 * AccessUnit for the listeners. The loop runs whenever the branch exists, so the appsink never
 * holds stale access units for a listener that subscribes later; with no listener a sample costs
 * only what the binding's pull already did (one copy of a few kilobytes) and a caps compare.
 */
export class AccessUnitTap {
  readonly stats: AccessUnitStats = { pulled: 0, keyframes: 0, unusable: 0, listenerErrors: 0 };
  private readonly listeners = new Set<AccessUnitListener>();
  private sink: GstAppSink | null = null;
  /** Changes with each attach: a pull answered for an older pipeline is ignored. */
  private attachment = 0;
  private pulling = false;
  /** Incremented by each flushing seek: a `null` pull from before it was the flush, not the end. */
  private flushes = 0;
  private epoch = 0;
  private track: TrackConfig | null = null;
  private lengthSize = 4;
  /** The track's picture order (B-frames): fed every access unit while someone listens. */
  private order: PictureOrder | null = null;
  private orderWarned = false;
  /** Access units of this epoch, and when it began (monotonic ms), for the derived pts. */
  private count = 0;
  private epochStart = 0;
  private warned = false;
  /** Resolved when the branch's pull returns its end (null without a flush). */
  private endWaiters: (() => void)[] = [];
  private ended = false;

  constructor(private readonly streamId: string, private readonly live: boolean, private readonly log: Logger) {}

  subscribe(listener: AccessUnitListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** A new pipeline's branch: a new epoch starts with its first access unit. */
  attach(sink: GstAppSink): void {
    this.attachment++;
    this.sink = sink;
    this.pulling = false;
    this.ended = false;
    this.newEpoch(null);
    this.pull();
  }

  detach(): void {
    this.attachment++;
    this.sink = null;
    this.pulling = false;
    this.settleEnd();
  }

  /**
   * Resolves once the branch has handed out everything before its end of stream (or `timeoutMs`
   * passed): a file's last access units are still in the appsink when the pipeline reports EOS.
   */
  drained(timeoutMs: number): Promise<void> {
    if (this.sink === null || this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.endWaiters.push(done);
    });
  }

  private settleEnd(): void {
    const waiters = this.endWaiters;
    this.endWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Before a flushing seek (a file looping): the pending pull returns `null` for the flush, and
   * what follows jumps back in time, so it is a new epoch.
   */
  flushing(): void {
    this.flushes++;
    this.ended = false;
    this.order?.lost();
    this.newEpoch(this.track);
  }

  /** After the flushing seek succeeded: pulls again if the flush already ended the loop. */
  resume(): void {
    this.pull();
  }

  private newEpoch(track: TrackConfig | null): void {
    this.epoch++;
    this.track = track;
    this.count = 0;
    this.epochStart = performance.now();
    this.warned = false;
  }

  private pull(): void {
    const sink = this.sink;
    if (this.pulling || sink === null) return;
    this.pulling = true;
    const attachment = this.attachment;
    const flushes = this.flushes;
    sink.pull((buf, caps) => {
      if (attachment !== this.attachment) return;
      this.pulling = false;
      if (buf === null) {
        // Null after a seek was the flush; otherwise the branch ended (EOS or stopping).
        if (flushes !== this.flushes) this.pull();
        else {
          this.ended = true;
          this.settleEnd();
        }
        return;
      }
      this.onSample(buf, caps);
      this.pull();
    });
  }

  private onSample(data: Buffer, caps: GstCaps): void {
    this.stats.pulled++;
    const track = this.trackOf(caps);
    if (track === null) return;
    const index = this.count++;
    const order = this.order;
    if (this.listeners.size === 0) {
      order?.lost();
      return;
    }
    const key = isKeyAccessUnit(track.codec, data, this.lengthSize);
    if (key) this.stats.keyframes++;
    const poc = order?.of(data);
    if (order !== null && order.problem !== null && !this.orderWarned) {
      this.orderWarned = true;
      this.log.warn({ problem: order.problem }, 'picture order unknown: clips of this stream may show B-frames out of order');
    }
    const au: AccessUnit = {
      streamId: this.streamId, data, key, poc,
      // Files: media time from the frame count (they may be decoded faster than real time);
      // live sources: the pull's monotonic clock, which follows the camera's own pace.
      ptsMs: !this.live && track.fps > 0 ? (index * 1000) / track.fps : performance.now() - this.epochStart,
      wallMs: Date.now(),
      epoch: this.epoch,
      track,
    };
    for (const l of this.listeners) {
      try {
        l(au);
      } catch (err) {
        this.stats.listenerErrors++;
        this.log.warn({ err: errorMessage(err) }, 'access-unit listener threw');
      }
    }
  }

  /** The current track, a new epoch when the caps changed, or null (counted, logged once) when unusable. */
  private trackOf(caps: GstCaps): TrackConfig | null {
    const cur = this.track;
    const data = caps['codec_data'];
    if (cur !== null && Buffer.isBuffer(data) && cur.width === caps.width && cur.height === caps.height && cur.description.equals(data)) return cur;
    const next = trackFromCaps(caps);
    if (next instanceof Error) {
      this.stats.unusable++;
      if (!this.warned) this.log.warn({ err: next.message }, 'access units without a usable track; skipped');
      this.warned = true;
      return null;
    }
    if (cur !== null && sameTrack(cur, next)) return cur;
    if (cur !== null || this.count > 0) this.newEpoch(next);
    else this.track = next;
    this.lengthSize = nalLengthSize(next.codec, next.description);
    this.order = new PictureOrder(next, this.lengthSize);
    this.orderWarned = false;
    return next;
  }
}
