import { createHash } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EvidenceConfig, Severity } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { wallClock } from '../util/clock.js';
import type { DeviceIdentity } from '../uplink/alert-message.js';
import { EVIDENCE_SINGLE_MAX_BYTES } from '../uplink/evidence-message.js';
import type { SnapshotRef } from '../uplink/payloads.js';
import { uplinkTopics } from '../uplink/topics.js';
import type { Frame } from '../video/frame.js';
import type { FullFrame } from '../video/full-frame.js';
import { openJpegEncoder } from './choose-encoder.js';
import type { EvidenceFile, EvidenceFileSink } from './evidence-files.js';
import { EvidenceRetention, type EvidenceRetentionStore, type RetentionStats } from './evidence-retention.js';
import { drawBox, toFrameBox, type Box } from './draw.js';
import { JsJpegEncoder } from './js-jpeg-encoder.js';
import { renderFullSnapshot, snapshotSize, type SnapshotOverlay } from './full-snapshot.js';
import { JpegEncoderUnavailable, type EncodableImage, type JpegEncoder, type RawImage } from './jpeg-encoder.js';

export { EVIDENCE_PRIORITY } from '../uplink/evidence-message.js';

/** Snapshots encoding at once; an event beyond that gets none (counted), rather than queue frames in memory. */
const MAX_PENDING = 8;
/** On-demand snapshots (vigilctl, the console) being made at once. */
const MAX_ON_DEMAND = 2;

/**
 * What the evidence stage needs of the store; EventStore provides it. A snapshot is recorded like
 * every evidence file (addEvidenceFile: size, sha256, its parts queued for the hub, the reference
 * merged into the event), and retention works on all of them (evidence-retention.ts).
 */
export interface EvidenceStore extends EvidenceFileSink, EvidenceRetentionStore {
  addEvidenceFile(file: EvidenceFile, options?: { merge?: Record<string, unknown> }): boolean;
}

export interface EvidenceStats {
  captured: number;
  written: number;
  failed: number;
  /** Events that got no snapshot because MAX_PENDING were being encoded. */
  dropped: number;
  /** Events that got no snapshot because their rule had one less than `min_interval_s` before. */
  skipped: number;
  /** Snapshot files deleted: their event was evicted, or the evidence budget was full. */
  pruned: number;
  /** Evidence files (snapshots and clips) deleted by retention, in all (evidence-retention.ts). */
  retention?: RetentionStats;
  /** Encoding time of the last snapshot, ms (queueing in the encoder included). */
  lastEncodeMs: number;
  /** What encodes the JPEGs (`jpegenc`, `nvjpegenc`, `jpeg-js`); null before the first is needed. */
  encoder: string | null;
}

export interface EvidenceOptions {
  config: EvidenceConfig;
  /** `storage.dir`; snapshots go to its `evidence/` directory. */
  storageDir: string;
  device: DeviceIdentity;
  store: EvidenceStore;
  log: Logger;
  /** Called with the time each snapshot was stored and queued (wall clock, ms). */
  onStored?: (eventId: string, at: number) => void;
  /** The encoder to use instead of the one `config.encoder` chooses (tests); the caller closes it. */
  encoder?: JpegEncoder;
}

/** A full-resolution frame for an event's snapshot and what to draw on it (full-snapshot.ts). */
export interface FullCapture {
  readonly frame: FullFrame;
  readonly overlay: SnapshotOverlay;
}

interface Pending { eventId: string; file: string; width: number; height: number }

/** The object of the event in red, the others (a crowd's members) in yellow. */
const FIRST: [number, number, number] = [255, 32, 32];
const OTHERS: [number, number, number] = [255, 220, 0];

/**
 * Tier 3: a JPEG of the frame an event opened on, with its object's box drawn, stored under the
 * state directory and queued for the hub on `…/evidence`. The frame is copied at once and the
 * boxes drawn into the copy (the frame path goes on with its own buffer); encoding happens off the
 * main thread (GStreamer's streaming thread, or jpeg-js's worker) and the file is written
 * asynchronously. The snapshot is at the camera's resolution (up to `max_width`), from the stream's
 * full-resolution branch (full-snapshot.ts); the analysis (model input) frame only where there is
 * none.
 */
export class EvidenceService {
  readonly stats: EvidenceStats = { captured: 0, written: 0, failed: 0, dropped: 0, skipped: 0, pruned: 0, lastEncodeMs: 0, encoder: null };
  /** When each stream's rule last had a snapshot taken, ms (monotonic). */
  private readonly lastTaken = new Map<string, number>();
  readonly dir: string;
  private readonly topics: { evidence: string; evidenceChunk: string };
  private readonly retention: EvidenceRetention;
  private encoder: Promise<JpegEncoder> | null = null;
  /** Whether stop() closes the encoder: not one handed in, which belongs to the caller. */
  private ownsEncoder: boolean;
  private readonly pending = new Set<Pending>();
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  private onDemand = 0;

  constructor(private readonly opts: EvidenceOptions) {
    this.dir = path.join(opts.storageDir, 'evidence');
    this.topics = uplinkTopics(opts.device.site, opts.device.id);
    this.retention = new EvidenceRetention(opts.store, opts.config.max_mb * 1024 * 1024, opts.log);
    this.stats.retention = this.retention.stats;
    this.ownsEncoder = opts.encoder === undefined;
  }

  /** `prewarm`: some rule can produce an event that gets a snapshot, so choose the encoder now. */
  start(prewarm = false): void {
    this.prune(true);
    void this.retention.hashLegacy();
    // The registry probe (and a jpeg-js worker's start) is paid now rather than by the first event.
    if (prewarm && this.opts.config.enabled) {
      void this.getEncoder().then((e) => { if (e instanceof JsJpegEncoder) e.prewarm(); },
        (err: unknown) => this.opts.log.warn({ err: errorMessage(err) }, 'cannot choose the snapshot encoder; the first snapshot tries again'));
    }
  }

  wants(severity: Severity): boolean {
    return this.opts.config.enabled && !this.stopped && this.opts.config.severities.includes(severity);
  }

  /**
   * Whether `capture` would take a snapshot for this stream's rule now: not within `min_interval_s`
   * of its last one, nor with MAX_PENDING encoding. The caller copies a full frame only then.
   */
  due(streamId: string, ruleId: string): boolean {
    if (this.stopped || this.pending.size >= MAX_PENDING) return false;
    const last = this.lastTaken.get(`${streamId}\0${ruleId}`);
    return last === undefined || performance.now() - last >= this.opts.config.min_interval_s * 1000;
  }

  /**
   * Takes a snapshot for the event, boxes in source pixels (the event's object first): of `full`,
   * the stream's newest decoded frame at the camera's size copied when the event was recorded
   * (drawn and scaled to `max_width` on a later turn of the event loop, encoded off the main
   * thread), or where there is none of the analysis `frame` (copied now). The stored width and
   * height say which. Never throws.
   */
  capture(eventId: string, frame: Frame, boxes: readonly Box[], ruleId = '', full?: FullCapture | null): void {
    if (this.stopped) return;
    const key = `${frame.streamId}\0${ruleId}`;
    const now = performance.now();
    const last = this.lastTaken.get(key);
    if (last !== undefined && now - last < this.opts.config.min_interval_s * 1000) {
      this.stats.skipped += 1;
      return;
    }
    if (this.pending.size >= MAX_PENDING) {
      this.stats.dropped += 1;
      this.opts.log.warn({ event: eventId, pending: this.pending.size }, 'snapshot encoder busy: this event gets no snapshot');
      return;
    }
    try {
      const file = path.join(this.dir, `${eventId}.jpg`);
      if (full) {
        const size = snapshotSize(full.frame.width, full.frame.height, this.opts.config.max_width);
        const job: Pending = { eventId, file, width: size.width, height: size.height };
        this.pending.add(job);
        this.stats.captured += 1;
        this.lastTaken.set(key, now);
        void this.encodeAndStore(job, () => renderFullSnapshot(full.frame, full.overlay, this.opts.config.max_width));
        return;
      }
      const image: RawImage = { data: new Uint8Array(frame.data), width: frame.width, height: frame.height, format: frame.format };
      const thickness = Math.max(2, Math.round(Math.min(frame.width, frame.height) / 200));
      boxes.forEach((b, i) => drawBox(image.data, frame.width, frame.height, toFrameBox(b, frame), i === 0 ? FIRST : OTHERS, thickness, frame.format));
      const job: Pending = { eventId, file, width: frame.width, height: frame.height };
      this.pending.add(job);
      this.stats.captured += 1;
      this.lastTaken.set(key, now);
      void this.encodeAndStore(job, image);
    } catch (err) {
      this.stats.failed += 1;
      this.opts.log.error({ event: eventId, err: errorMessage(err) }, 'cannot take a snapshot');
    }
  }

  /** Resolves when no snapshot is being encoded. */
  idle(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Deletes evidence files beyond `max_mb` (after every snapshot), and with `orphans` first those
   * whose event is gone (at start and after every eviction of events); evidence-retention.ts has
   * the order and the reporting.
   */
  prune(orphans = false): void {
    this.stats.pruned += this.countFiles(() => this.retention.prune(orphans));
  }

  /**
   * Deletes evidence files in the eviction order until `bytes` are freed or none is left; returns
   * the bytes freed. The store calls it (onSpaceNeeded) when the filesystem is short of its reserve
   * or full: a picture or a clip is given up before any event.
   */
  free(bytes: number): number {
    let freed = 0;
    this.stats.pruned += this.countFiles(() => { freed = this.retention.free(bytes); });
    return freed;
  }

  private countFiles(fn: () => unknown): number {
    const before = this.retention.stats.evicted;
    fn();
    return this.retention.stats.evicted - before;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const encoder = this.encoder;
    this.encoder = null;
    // Closing fails what is still encoding; each job counts itself as failed and settles.
    if (encoder && this.ownsEncoder) await encoder.then((e) => e.close(), () => undefined);
    await this.idle();
  }

  private getEncoder(): Promise<JpegEncoder> {
    if (this.encoder) return this.encoder;
    const choosing: Promise<JpegEncoder> = (this.opts.encoder ? Promise.resolve(this.opts.encoder) : openJpegEncoder(this.opts.config.encoder)).then((e) => {
      this.stats.encoder = e.name;
      this.opts.log.info({ encoder: e.name }, 'snapshot encoder chosen');
      return e;
    }, (err: unknown) => {
      // Not kept: the next snapshot chooses again.
      if (this.encoder === choosing) this.encoder = null;
      throw err;
    });
    this.encoder = choosing;
    return choosing;
  }

  /**
   * A JPEG now, for `vigilctl snapshot` and the console (stored nowhere): `take` copies the frame
   * and says what to draw; it is drawn, scaled to `maxWidth` (default `evidence.max_width`) and
   * encoded like an event's snapshot. At most MAX_ON_DEMAND at once: more are refused, not queued
   * with a full frame each in memory.
   */
  async snapshot(take: () => FullCapture, maxWidth = this.opts.config.max_width): Promise<{ jpeg: Buffer; width: number; height: number; ts: number }> {
    if (this.onDemand >= MAX_ON_DEMAND) throw new Error(`${this.onDemand} snapshots are being made; try again in a moment`);
    this.onDemand++;
    try {
      const { frame, overlay } = take();
      await new Promise((resolve) => setImmediate(resolve));
      const image = renderFullSnapshot(frame, overlay, maxWidth);
      const jpeg = await this.encode(image);
      return { jpeg, width: image.outWidth, height: image.outHeight, ts: frame.ts };
    } finally {
      this.onDemand--;
    }
  }

  private async encode(image: EncodableImage): Promise<Buffer> {
    const encoder = await this.getEncoder();
    try {
      return await encoder.encode(image, this.opts.config.quality);
    } catch (err) {
      if (!(err instanceof JpegEncoderUnavailable) || this.stopped) throw err;
      // GStreamer listed the element but cannot build the pipeline: jpeg-js from now on.
      this.opts.log.warn({ encoder: encoder.name, err: err.message }, 'snapshot encoder unavailable; encoding in JavaScript from now on');
      const fallback = new JsJpegEncoder();
      this.encoder = Promise.resolve(fallback);
      this.stats.encoder = fallback.name;
      if (this.ownsEncoder) void encoder.close();
      this.ownsEncoder = true;
      return fallback.encode(image, this.opts.config.quality);
    }
  }

  /** `image` a function: drawn on a later turn of the event loop, off the event's own call. */
  private async encodeAndStore(job: Pending, image: RawImage | (() => EncodableImage)): Promise<void> {
    try {
      if (typeof image === 'function') await new Promise((resolve) => setImmediate(resolve));
      const pixels = typeof image === 'function' ? image() : image;
      const started = performance.now();
      const jpeg = await this.encode(pixels);
      this.stats.lastEncodeMs = performance.now() - started;
      if (this.stopped) throw new Error('stopped');
      // Written under a temporary name and renamed, so a reader never sees half a JPEG.
      await mkdir(path.dirname(job.file), { recursive: true });
      const tmp = `${job.file}.tmp`;
      await writeFile(tmp, jpeg);
      await rename(tmp, job.file);
      this.store(job, jpeg);
    } catch (err) {
      this.stats.failed += 1;
      if (!this.stopped) this.opts.log.error({ event: job.eventId, file: job.file, err: errorMessage(err) }, 'snapshot could not be stored');
    } finally {
      this.pending.delete(job);
      if (this.pending.size === 0) this.settleIdle();
    }
  }

  private store(job: Pending, jpeg: Buffer): void {
    const { store } = this.opts;
    const file: EvidenceFile = {
      eventId: job.eventId, kind: 'snapshot', path: job.file, bytes: jpeg.length,
      sha256: createHash('sha256').update(jpeg).digest('hex'), width: job.width, height: job.height, createdAt: Date.now(),
    };
    const topic = jpeg.length <= EVIDENCE_SINGLE_MAX_BYTES ? this.topics.evidence : this.topics.evidenceChunk;
    const ref: SnapshotRef = { ref: path.basename(job.file), topic, bytes: jpeg.length, width: job.width, height: job.height };
    // The reference goes into the event (for the activity's end message and vigilctl events show)
    // in the same transaction that records the file and queues its parts (never its bytes).
    if (!store.addEvidenceFile(file, { merge: { snapshot: ref } })) {
      // Evicted while its snapshot was encoding: the file has no event to belong to.
      try {
        unlinkSync(job.file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      this.stats.pruned += 1;
      return;
    }
    this.stats.written += 1;
    const at = wallClock();
    this.opts.onStored?.(job.eventId, at);
    this.prune();
  }

  private settleIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
