import { unlinkSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { EvidenceConfig, Severity } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Snapshot } from '../store/annotations.js';
import type { OutboxMessage, StoredEvent } from '../store/types.js';
import { wallClock } from '../tiers/clock.js';
import { severityPriority, type DeviceIdentity } from '../uplink/alert-message.js';
import type { SnapshotRef } from '../uplink/payloads.js';
import { uplinkTopics } from '../uplink/topics.js';
import type { Frame } from '../video/frame.js';
import { toFrameBox, type Box } from './draw.js';
import { runSnapshotJob, type SnapshotJob, type SnapshotResult } from './snapshot-job.js';

/** Below every event, with telemetry: a snapshot must never delay an alert. */
export const EVIDENCE_PRIORITY = severityPriority.info + 1;

/** Snapshots encoding at once; an event beyond that gets none (counted), rather than queue frames in memory. */
const MAX_PENDING = 8;

/** What the evidence stage needs of the store; EventStore provides it. */
export interface EvidenceStore {
  addSnapshot(snapshot: Snapshot): void;
  enqueueForEvent(eventId: string, toOutbox: (event: StoredEvent) => OutboxMessage | undefined,
    options?: { merge?: Record<string, unknown>; relaxed?: boolean }): StoredEvent | undefined;
  orphanSnapshots(): Snapshot[];
  oldestSnapshots(limit: number): Snapshot[];
  forgetSnapshot(eventId: string): void;
  snapshotBytes(): number;
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
  /** Encoding time of the last snapshot, ms (in the worker). */
  lastEncodeMs: number;
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
  /** Called after a snapshot was queued in the outbox, to wake the uplink. */
  onQueued?: () => void;
  /** Encode on the calling thread (tests that compare the pixels); the daemon always uses a worker. */
  inline?: boolean;
}

interface Pending { eventId: string; file: string; width: number; height: number }

/**
 * Tier 3: a JPEG of the frame an event opened on, with its object's box drawn, stored under the
 * state directory and queued for the hub on `…/evidence`. The frame is copied at once (the frame
 * path goes on with its own buffer); conversion, drawing, encoding and writing happen in a worker
 * thread. The snapshot is at the analysis (model input) resolution, which is what the detector saw.
 */
export class EvidenceService {
  readonly stats: EvidenceStats = { captured: 0, written: 0, failed: 0, dropped: 0, skipped: 0, pruned: 0, lastEncodeMs: 0 };
  /** When each stream's rule last had a snapshot taken, ms (monotonic). */
  private readonly lastTaken = new Map<string, number>();
  readonly dir: string;
  private readonly topic: string;
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: EvidenceOptions) {
    this.dir = path.join(opts.storageDir, 'evidence');
    this.topic = uplinkTopics(opts.device.site, opts.device.id).evidence;
  }

  /** `prewarm`: some rule can produce an event that gets a snapshot, so start the worker now. */
  start(prewarm = false): void {
    this.prune(true);
    // The worker's start (a V8 isolate, its modules) is paid now rather than by the first event.
    if (prewarm && this.opts.config.enabled && !this.opts.inline) this.ensureWorker();
  }

  wants(severity: Severity): boolean {
    return this.opts.config.enabled && !this.stopped && this.opts.config.severities.includes(severity);
  }

  /**
   * Takes a snapshot of `frame` for the event, boxes in source pixels (the event's object first).
   * Costs the caller one copy of the frame; never throws.
   */
  capture(eventId: string, frame: Frame, boxes: readonly Box[], ruleId = ''): void {
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
      const id = this.nextId++;
      const file = path.join(this.dir, `${eventId}.jpg`);
      const job: SnapshotJob = {
        id, data: new Uint8Array(frame.data), width: frame.width, height: frame.height, format: frame.format,
        boxes: boxes.map((b) => toFrameBox(b, frame)), quality: this.opts.config.quality, file,
      };
      this.pending.set(id, { eventId, file, width: frame.width, height: frame.height });
      this.stats.captured += 1;
      this.lastTaken.set(key, now);
      if (this.opts.inline) {
        const result = runSnapshotJob(job);
        setImmediate(() => this.settle(result));
        return;
      }
      this.ensureWorker().postMessage(job, [job.data.buffer as ArrayBuffer]);
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
   * Deletes the oldest snapshots while the files exceed `max_mb` (after every snapshot), and with
   * `orphans` first those whose event is gone (at start and after every eviction of events).
   */
  prune(orphans = false): void {
    try {
      const { store } = this.opts;
      if (orphans) for (const s of store.orphanSnapshots()) this.remove(s);
      const budget = this.opts.config.max_mb * 1024 * 1024;
      let total = store.snapshotBytes();
      while (total > budget) {
        const oldest = store.oldestSnapshots(32);
        if (oldest.length === 0) break;
        for (const s of oldest) {
          if (total <= budget) break;
          this.remove(s);
          total -= s.bytes;
        }
      }
    } catch (err) {
      this.opts.log.warn({ err: errorMessage(err) }, 'cannot prune evidence snapshots');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
    this.failPending('stopped');
  }

  private remove(s: Snapshot): void {
    try {
      unlinkSync(s.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.opts.store.forgetSnapshot(s.eventId);
    this.stats.pruned += 1;
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./snapshot-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (result: SnapshotResult) => this.settle(result));
    worker.on('error', (err) => {
      this.opts.log.error({ err: errorMessage(err) }, 'snapshot worker failed; a new one starts with the next snapshot');
    });
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = null;
      this.failPending('the snapshot worker exited');
    });
    this.worker = worker;
    return worker;
  }

  private failPending(why: string): void {
    if (this.pending.size === 0) return;
    this.stats.failed += this.pending.size;
    if (!this.stopped) this.opts.log.warn({ snapshots: this.pending.size, why }, 'snapshots lost');
    this.pending.clear();
    this.settleIdle();
  }

  private settle(result: SnapshotResult): void {
    const job = this.pending.get(result.id);
    if (!job) return;
    this.pending.delete(result.id);
    try {
      if (!result.ok) throw new Error(result.error);
      this.stats.lastEncodeMs = result.encodeMs;
      this.store(job, Buffer.from(result.jpeg.buffer, result.jpeg.byteOffset, result.jpeg.byteLength));
    } catch (err) {
      this.stats.failed += 1;
      this.opts.log.error({ event: job.eventId, file: job.file, err: errorMessage(err) }, 'snapshot could not be stored');
    } finally {
      if (this.pending.size === 0) this.settleIdle();
    }
  }

  private store(job: Pending, jpeg: Buffer): void {
    const { store, config } = this.opts;
    store.addSnapshot({ eventId: job.eventId, path: job.file, bytes: jpeg.length, width: job.width, height: job.height, createdAt: Date.now() });
    const ref: SnapshotRef = { ref: path.basename(job.file), topic: this.topic, bytes: jpeg.length, width: job.width, height: job.height };
    // The reference goes into the event (for the activity's end message and vigilctl events show)
    // in the same transaction that queues the JPEG.
    const event = store.enqueueForEvent(job.eventId,
      () => (config.publish ? { topic: this.topic, payload: '', blob: jpeg, qos: 1, priority: EVIDENCE_PRIORITY } : undefined),
      // No fsync for it: a snapshot lost to a power cut is a picture, not an alert.
      { merge: { snapshot: ref }, relaxed: true });
    if (!event) {
      // Evicted while its snapshot was encoding: the file has no event to belong to.
      this.prune(true);
      return;
    }
    this.stats.written += 1;
    const at = wallClock();
    if (config.publish) this.opts.onQueued?.();
    this.opts.onStored?.(job.eventId, at);
    this.prune();
  }

  private settleIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
