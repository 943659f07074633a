import type { Database, Statement } from 'better-sqlite3';
import type { EvidenceFile, EvidenceKind } from '../evidence/evidence-files.js';

/**
 * The `evidence_files` table (migration 5): every snapshot and clip an event has, with its size,
 * sha256 and how much of it the broker has acknowledged. It shares the event store's connection;
 * EventStore wraps these in its transactions.
 */

/** An evidence file as stored: what the producer recorded, and its delivery. */
export interface StoredEvidenceFile extends EvidenceFile {
  /** Bytes of it the broker has acknowledged (every part on `…/evidence` or `…/evidence/chunk`). */
  readonly deliveredBytes: number;
  /** Why it is not sent (its bytes no longer match the sha256, or it is missing); null when fine. */
  readonly refused: string | null;
}

/** The file's parts as the eviction order sees them: the event's severity ('' when the event is gone). */
export interface EvidenceCandidate extends StoredEvidenceFile {
  readonly severity: string;
}

interface Row {
  event_id: string; kind: string; path: string; bytes: number; sha256: string; width: number; height: number;
  duration_s: number | null; started_at: number | null; truncated: string | null; created_at: number;
  delivered_bytes: number; refused: string | null; severity?: string | null;
}

const COLUMNS = 'f.event_id, f.kind, f.path, f.bytes, f.sha256, f.width, f.height, f.duration_s, f.started_at, f.truncated, f.created_at, f.delivered_bytes, f.refused';

export class EvidenceTable {
  private readonly insert: Statement<[string, string, string, number, string, number, number, number | null, number | null, string | null, number]>;
  private readonly one: Statement<[string, string], Row>;
  private readonly ofEvent: Statement<[string], Row>;
  private readonly orphanRows: Statement<[], Row>;
  private readonly order: Statement<[number], Row>;
  private readonly drop: Statement<[string, string]>;
  private readonly dropParts: Statement<[string, string]>;
  private readonly total: Statement<[], number>;
  private readonly deliver: Statement<[number, string, string]>;
  private readonly refuseRow: Statement<[string, string, string]>;
  private readonly unhashedRows: Statement<[], Row>;
  private readonly hash: Statement<[string, string, string]>;

  constructor(db: Database) {
    this.insert = db.prepare(`INSERT OR REPLACE INTO evidence_files
      (event_id, kind, path, bytes, sha256, width, height, duration_s, started_at, truncated, created_at, delivered_bytes, refused)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL)`);
    this.one = db.prepare(`SELECT ${COLUMNS} FROM evidence_files f WHERE f.event_id = ? AND f.kind = ?`);
    this.ofEvent = db.prepare(`SELECT ${COLUMNS} FROM evidence_files f WHERE f.event_id = ? ORDER BY f.kind DESC`);
    this.orphanRows = db.prepare(`SELECT ${COLUMNS} FROM evidence_files f WHERE f.event_id NOT IN (SELECT id FROM events)`);
    // The eviction order (docs/evidence-delivery.md): files of evicted events, then files the hub
    // already has, then by the event's severity from the least severe, oldest first within each.
    this.order = db.prepare(`SELECT ${COLUMNS}, e.severity FROM evidence_files f LEFT JOIN events e ON e.id = f.event_id
      ORDER BY e.id IS NOT NULL, f.delivered_bytes < f.bytes AND f.refused IS NULL,
        CASE e.severity WHEN 'info' THEN 0 WHEN 'warning' THEN 1 WHEN 'alert' THEN 2 ELSE 3 END, f.created_at
      LIMIT ?`);
    this.drop = db.prepare('DELETE FROM evidence_files WHERE event_id = ? AND kind = ?');
    this.dropParts = db.prepare('DELETE FROM outbox WHERE event_id = ? AND evidence_kind = ?');
    this.total = db.prepare('SELECT coalesce(sum(bytes), 0) FROM evidence_files').pluck() as Statement<[], number>;
    this.deliver = db.prepare('UPDATE evidence_files SET delivered_bytes = min(bytes, delivered_bytes + ?) WHERE event_id = ? AND kind = ?');
    this.refuseRow = db.prepare('UPDATE evidence_files SET refused = ? WHERE event_id = ? AND kind = ?');
    this.unhashedRows = db.prepare(`SELECT ${COLUMNS} FROM evidence_files f WHERE f.sha256 = '' LIMIT 1000`);
    this.hash = db.prepare('UPDATE evidence_files SET sha256 = ? WHERE event_id = ? AND kind = ?');
  }

  /** Records (or replaces) a file; a replaced file's queued parts go with the old row. */
  put(f: EvidenceFile): void {
    this.dropParts.run(f.eventId, f.kind);
    this.insert.run(f.eventId, f.kind, f.path, f.bytes, f.sha256, f.width, f.height, f.durationS ?? null, f.startedAt ?? null,
      f.truncated ?? null, f.createdAt);
  }

  get(eventId: string, kind: EvidenceKind): StoredEvidenceFile | null {
    const r = this.one.get(eventId, kind);
    return r ? toFile(r) : null;
  }

  ofEventFiles(eventId: string): StoredEvidenceFile[] {
    return this.ofEvent.all(eventId).map(toFile);
  }

  orphans(): StoredEvidenceFile[] {
    return this.orphanRows.all().map(toFile);
  }

  evictionOrder(limit: number): EvidenceCandidate[] {
    return this.order.all(limit).map((r) => ({ ...toFile(r), severity: r.severity ?? '' }));
  }

  /** Forgets a file and its parts still queued. */
  remove(eventId: string, kind: EvidenceKind): void {
    this.dropParts.run(eventId, kind);
    this.drop.run(eventId, kind);
  }

  totalBytes(): number {
    return this.total.get() ?? 0;
  }

  delivered(eventId: string, kind: string, bytes: number): void {
    this.deliver.run(bytes, eventId, kind);
  }

  /** Marks a file as not to be sent, and drops its parts still queued. */
  refuse(eventId: string, kind: EvidenceKind, reason: string): void {
    this.refuseRow.run(reason, eventId, kind);
    this.dropParts.run(eventId, kind);
  }

  /** Files recorded before migration 5 (sha256 ''), to be hashed once. */
  unhashed(): StoredEvidenceFile[] {
    return this.unhashedRows.all().map(toFile);
  }

  setHash(eventId: string, kind: EvidenceKind, sha256: string): void {
    this.hash.run(sha256, eventId, kind);
  }
}

function toFile(r: Row): StoredEvidenceFile {
  return {
    eventId: r.event_id, kind: r.kind === 'clip' ? 'clip' : 'snapshot', path: r.path, bytes: r.bytes, sha256: r.sha256,
    width: r.width, height: r.height,
    ...(r.duration_s !== null ? { durationS: r.duration_s } : {}),
    ...(r.started_at !== null ? { startedAt: r.started_at } : {}),
    ...(r.truncated !== null ? { truncated: r.truncated } : {}),
    createdAt: r.created_at, deliveredBytes: r.delivered_bytes, refused: r.refused,
  };
}

/** One outbox row of an evidence file, as EventStore's `evidenceOutbox` builds it (uplink/evidence-message.ts). */
export interface QueuedPart {
  topic: string;
  payload: string;
  qos: 0 | 1;
  priority: number;
  offset: number;
  length: number;
  index: number;
  count: number;
}
