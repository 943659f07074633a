import { unlinkSync } from 'node:fs';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { sha256File } from '../inference/checksum.js';
import type { EvidenceCandidate, StoredEvidenceFile } from '../store/evidence-table.js';
import type { EvidenceKind } from './evidence-files.js';

/** What retention needs of the store; EventStore provides it. */
export interface EvidenceRetentionStore {
  orphanEvidence(): StoredEvidenceFile[];
  evidenceEvictionOrder(limit: number): EvidenceCandidate[];
  forgetEvidence(eventId: string, kind: EvidenceKind): void;
  evidenceBytes(): number;
  reportEvidenceEviction(files: number, undelivered: number, bytes: number): void;
  unhashedEvidence(): StoredEvidenceFile[];
  setEvidenceHash(eventId: string, kind: EvidenceKind, sha256: string): void;
}

export interface RetentionStats {
  /** Evidence files deleted, all reasons together. */
  evicted: number;
  evictedBytes: number;
  /** Of them, files the hub had not wholly received. */
  evictedUndelivered: number;
  /** Of them, files whose event had been evicted. */
  orphans: number;
}

/** Beyond the budget, files are deleted down to this fraction of it. */
const LOW_WATER = 0.9;

/** Files looked at per query: eviction takes a few at a time, each can be many MiB. */
const BATCH = 32;

/**
 * Keeps the evidence files (snapshots and clips) within `evidence.max_mb` and gives space back
 * when the disk is short of its reserve, in one order: files of evicted events, then files the hub
 * already has whole, then by the event's severity (least first) and age (oldest first). Every file
 * deleted is logged, counted here and in the store's running eviction report (`vigil.storage/1`
 * `evicted`: evidence_files, evidence_undelivered, evidence_bytes).
 */
export class EvidenceRetention {
  readonly stats: RetentionStats = { evicted: 0, evictedBytes: 0, evictedUndelivered: 0, orphans: 0 };

  constructor(private readonly store: EvidenceRetentionStore, private readonly maxBytes: number, private readonly log: Logger) {}

  /**
   * Deletes files beyond the budget, and with `orphans` first those whose event is gone (at start
   * and after every eviction of events). Never throws.
   */
  prune(orphans = false): number {
    const run = newRun();
    try {
      if (orphans) for (const f of this.store.orphanEvidence()) this.evict(f, 'its event was evicted', run);
      let total = this.store.evidenceBytes();
      // Down to the low-water mark, so that a full budget costs an eviction (and a report) now and
      // then rather than at every new file.
      const goal = this.maxBytes * LOW_WATER;
      while (total > this.maxBytes ? true : total > goal && run.budgetFiles > 0) {
        const next = this.store.evidenceEvictionOrder(BATCH);
        if (next.length === 0) break;
        for (const f of next) {
          if (total <= goal) break;
          this.evict(f, 'evidence.max_mb reached', run);
          run.budgetFiles += 1;
          total -= f.bytes;
        }
      }
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'cannot prune evidence files');
    }
    this.report(run);
    return run.bytes;
  }

  /**
   * Deletes files in the eviction order until `bytes` are freed or none is left; returns the bytes
   * freed. The store calls it (onSpaceNeeded) when the filesystem is short of its reserve or full:
   * evidence is given up before any event.
   */
  free(bytes: number): number {
    const run = newRun();
    try {
      while (run.bytes < bytes) {
        const next = this.store.evidenceEvictionOrder(BATCH);
        if (next.length === 0) break;
        for (const f of next) {
          if (run.bytes >= bytes) break;
          this.evict(f, 'disk short of its reserve', run);
        }
      }
      if (run.files > 0) this.log.warn({ freed_bytes: run.bytes, wanted_bytes: Math.round(bytes), files: run.files }, 'disk short of its reserve: deleted evidence files');
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'cannot free evidence files');
    }
    this.report(run);
    return run.bytes;
  }

  /**
   * Hashes the files recorded before sha256s were (migration 5), once, off the event loop's way (a
   * stream of reads). A file that cannot be read keeps '' and is refused at sending.
   */
  async hashLegacy(): Promise<number> {
    let done = 0;
    for (const f of this.store.unhashedEvidence()) {
      try {
        this.store.setEvidenceHash(f.eventId, f.kind, await sha256File(f.path));
        done += 1;
      } catch (err) {
        this.log.warn({ event: f.eventId, file: f.path, err: errorMessage(err) }, 'cannot hash an evidence file recorded before sha256s were kept');
      }
    }
    return done;
  }

  private evict(f: StoredEvidenceFile, why: string, run: Run): void {
    try {
      unlinkSync(f.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.store.forgetEvidence(f.eventId, f.kind);
    const undelivered = f.deliveredBytes < f.bytes && f.refused === null;
    const orphan = why === 'its event was evicted';
    run.files += 1;
    run.bytes += f.bytes;
    if (undelivered) run.undelivered += 1;
    this.stats.evicted += 1;
    this.stats.evictedBytes += f.bytes;
    if (undelivered) this.stats.evictedUndelivered += 1;
    if (orphan) this.stats.orphans += 1;
    const fields = { event: f.eventId, kind: f.kind, file: f.path, bytes: f.bytes, delivered_bytes: f.deliveredBytes, why };
    if (undelivered && !orphan) this.log.warn(fields, 'evidence file deleted before the hub had it');
    else this.log.info(fields, 'evidence file deleted');
  }

  private report(run: Run): void {
    if (run.files > 0) this.store.reportEvidenceEviction(run.files, run.undelivered, run.bytes);
  }
}

interface Run { files: number; undelivered: number; bytes: number; budgetFiles: number }
const newRun = (): Run => ({ files: 0, undelivered: 0, bytes: 0, budgetFiles: 0 });
