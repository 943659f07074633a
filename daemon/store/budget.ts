import type { Database, Statement } from 'better-sqlite3';
import type { Severity } from '../config/schema.js';
import { STORAGE_EVENT_KIND, type LostBySeverity } from './types.js';

/** What one enforcement run removed. */
export interface EvictionRun {
  delivered: number;
  lost: LostBySeverity;
  /** Evidence JPEGs dropped from the outbox before the hub had them; their events are kept. */
  snapshots: number;
  /** Frame times (ms) of the oldest and newest event lost undelivered; null when none was. */
  oldestLostTs: number | null;
  newestLostTs: number | null;
  usedBefore: number;
  usedAfter: number;
  /** Evidence files deleted (by the evidence service, reported through the store), those not wholly delivered, and their bytes. */
  evidenceFiles?: number;
  evidenceUndelivered?: number;
  evidenceBytes?: number;
}

/**
 * The eviction order. Delivered events cost the hub nothing; then the evidence JPEGs still queued
 * (a picture is tens of KiB, an event one); then pending events from the least to the most severe,
 * so that a backlog of motion reports is given up long before one alert. Within a class the oldest
 * go first: the newest alert is the one an operator acts on. Storage events still pending (eviction
 * and quarantine reports) are never chosen: they are how the hub learns what was given up.
 */
const PENDING_ORDER: readonly Severity[] = ['info', 'warning', 'alert', 'critical'];

/** Rows per delete batch: small enough that one batch never frees far more than needed. */
const MIN_BATCH = 32;
const MAX_BATCH = 5_000;

/**
 * Keeps the database under a byte budget. The measure is pages in use, from two header fields
 * (page_count - freelist_count), which costs microseconds: SQLite reuses free pages before it grows
 * the file, so holding the pages in use under the budget holds the file there too, without VACUUM.
 */
export class DiskBudget {
  private readonly pages: Statement<[], { page_count: number; freelist_count: number; page_size: number }>;
  private readonly eventCount: Statement<[], number>;
  private readonly oldestDelivered: Statement<[number], { id: string }>;
  private readonly oldestPending: Statement<[string, number], { id: string; ts: number }>;
  private readonly deleteOutboxOf: Statement<[string]>;
  private readonly deleteEvent: Statement<[string]>;
  private readonly oldestBlobs: Statement<[number], { seq: number }>;
  private readonly deleteSeq: Statement<[number]>;

  /**
   * At most this many bytes of pages freed per `evict` call. The store lowers it on a nearly full
   * filesystem: a delete writes its pages to the WAL before it frees them, so one transaction may
   * free only what the free space can take as WAL frames; it then evicts in several.
   */
  maxFreePerRun = Number.POSITIVE_INFINITY;

  /** Eviction stops at `lowWater` × budget, so that it runs now and then instead of at every check. */
  constructor(db: Database, readonly budgetBytes: number, private readonly lowWater = 0.9) {
    this.pages = db.prepare(`SELECT page_count, freelist_count, page_size
      FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()`);
    this.eventCount = db.prepare('SELECT count(*) FROM events').pluck() as Statement<[], number>;
    this.oldestDelivered = db.prepare(`SELECT id FROM events WHERE uplinked_at IS NOT NULL
      ORDER BY created_at LIMIT ?`);
    this.oldestPending = db.prepare(`SELECT id, ts FROM events WHERE severity = ? AND uplinked_at IS NULL
      AND kind <> '${STORAGE_EVENT_KIND}' ORDER BY created_at LIMIT ?`);
    this.oldestBlobs = db.prepare('SELECT seq FROM outbox WHERE payload_blob IS NOT NULL ORDER BY seq LIMIT ?');
    this.deleteSeq = db.prepare('DELETE FROM outbox WHERE seq = ?');
    this.deleteOutboxOf = db.prepare('DELETE FROM outbox WHERE event_id = ?');
    this.deleteEvent = db.prepare('DELETE FROM events WHERE id = ?');
  }

  usedBytes(): number {
    const p = this.pages.get();
    return p ? (p.page_count - p.freelist_count) * p.page_size : 0;
  }

  fileBytes(): number {
    const p = this.pages.get();
    return p ? p.page_count * p.page_size : 0;
  }

  /** Free pages inside the file: SQLite writes there before it grows the file, so they are room on disk. */
  freeBytes(): number {
    const p = this.pages.get();
    return p ? p.freelist_count * p.page_size : 0;
  }

  overBudget(): boolean {
    return this.usedBytes() > this.budgetBytes;
  }

  /**
   * Removes events by policy until the pages in use are at most `targetBytes` (the low-water mark by
   * default) or nothing is left to remove. Call inside a transaction: the caller records the run in
   * the same commit, so an eviction is never without its report.
   */
  evict(goalBytes = this.budgetBytes * this.lowWater): EvictionRun | null {
    const usedBefore = this.usedBytes();
    const targetBytes = Math.max(goalBytes, usedBefore - this.maxFreePerRun);
    if (usedBefore <= targetBytes) return null;
    const run: EvictionRun = {
      delivered: 0, lost: { info: 0, warning: 0, alert: 0, critical: 0 }, snapshots: 0, oldestLostTs: null, newestLostTs: null,
      usedBefore, usedAfter: usedBefore,
    };
    // Average bytes per event turns "bytes over" into "rows to delete"; outbox rows and indexes are
    // in it too, which is what deleting an event frees.
    const perRow = Math.max(64, usedBefore / Math.max(1, this.eventCount.get() ?? 1));
    // A capped run (a nearly full disk) may take a single row: every page it touches is a WAL frame.
    const minBatch = Number.isFinite(this.maxFreePerRun) ? 1 : MIN_BATCH;
    const batch = (used: number): number => Math.min(MAX_BATCH, Math.max(minBatch, Math.ceil((used - targetBytes) / perRow)));
    let used = usedBefore;

    while (used > targetBytes) {
      const rows = this.oldestDelivered.all(batch(used));
      if (rows.length === 0) break;
      for (const { id } of rows) {
        // A delivered event can still have rows queued (an activity's end, its evidence snapshot):
        // they go with it, or the outbox's foreign key would refuse the delete.
        this.deleteOutboxOf.run(id);
        this.deleteEvent.run(id);
      }
      run.delivered += rows.length;
      used = this.usedBytes();
    }
    while (used > targetBytes) {
      // A few at a time: each is tens of KiB.
      const rows = this.oldestBlobs.all(8);
      if (rows.length === 0) break;
      for (const { seq } of rows) this.deleteSeq.run(seq);
      run.snapshots += rows.length;
      used = this.usedBytes();
    }
    for (const severity of PENDING_ORDER) {
      while (used > targetBytes) {
        const rows = this.oldestPending.all(severity, batch(used));
        if (rows.length === 0) break;
        for (const { id, ts } of rows) {
          this.deleteOutboxOf.run(id);
          this.deleteEvent.run(id);
          run.oldestLostTs = run.oldestLostTs === null ? ts : Math.min(run.oldestLostTs, ts);
          run.newestLostTs = run.newestLostTs === null ? ts : Math.max(run.newestLostTs, ts);
        }
        run.lost[severity] += rows.length;
        used = this.usedBytes();
      }
    }
    run.usedAfter = used;
    return run.delivered + run.snapshots + lostCount(run.lost) > 0 ? run : null;
  }
}

export function lostCount(lost: LostBySeverity): number {
  return lost.info + lost.warning + lost.alert + lost.critical;
}
