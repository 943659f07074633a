import { writeTransaction } from './write-transaction.js';
import type { Database, Statement } from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { severitySchema, type Severity } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import path from 'node:path';
import { DiskBudget, lostCount, type EvictionRun } from './budget.js';
import { DiskSpace, filesystemSpace, reserveOf } from './disk-space.js';
import { DEFAULT_WAL_LIMIT_BYTES, openDatabase, type OpenOptions } from './open.js';
import { openWithRecovery, type Quarantine } from './recovery.js';
import { Annotations, type EventTimings, type Review, type Snapshot, type TimingStage } from './annotations.js';
import type { EvidenceFile, EvidenceFileSink, EvidenceKind } from '../evidence/evidence-files.js';
import { EvidenceTable, type EvidenceCandidate, type QueuedPart, type StoredEvidenceFile } from './evidence-table.js';
import {
  eventPayloadSchema, STORAGE_EVENT_KIND, storageNoticeSchema, type EventQuery, type EvictionTotals, type LostBySeverity,
  type NewEvent, type OutboxMessage, type OutboxPriorityStats, type OutboxRow, type OutboxStats, type StorageDisk,
  type StorageNotice, type StorageStatus, type StoredEvent, type EvidenceRefusedNotice,
} from './types.js';

interface EventRow {
  id: string; ts: number; stream: string; rule: string; severity: string; kind: string;
  payload: string; created_at: number; uplinked_at: number | null;
}

interface OutboxDbRow {
  seq: number; event_id: string | null; topic: string; payload: string; qos: number; priority: number;
  created_at: number; attempts: number; payload_blob: Buffer | null; evidence_kind: string | null;
}

interface PartDbRow {
  evidence_offset: number | null; evidence_length: number | null; evidence_index: number | null; evidence_count: number | null;
  file_path: string | null; file_bytes: number | null; file_sha256: string | null;
}

export interface EventStoreOptions extends OpenOptions {
  /** Injected so that tests can control ages; ms since the epoch. */
  now?: () => number;
  /**
   * The daemon's mode: check the file at open and move a corrupt one aside (see recovery.ts). Off
   * for vigilctl, which must never move the daemon's database.
   */
  recover?: boolean;
  /** Bytes of pages in use above which events are evicted by policy; absent: no budget. */
  budgetBytes?: number;
  /** Inserts between two budget checks; a check costs two header reads. */
  budgetCheckEvery?: number;
  /** Builds the outbox message of a storage event (quarantine, eviction); absent: stored only. */
  notices?: ToOutbox;
  /**
   * The disk around the database (disk-space.ts): keep `reserveBytes` free on the filesystem of the
   * database's directory (null: the default rule), hold `ballastBytes` of ballast for a full disk
   * (default: the WAL bound, at most half the reserve), and check every `checkEveryMs` besides every
   * `budgetCheckEvery` inserts (evidence and other writers fill the disk between events). Absent:
   * only the database budget is kept (vigilctl, tests).
   */
  disk?: { reserveBytes?: number | null; ballastBytes?: number; checkEveryMs?: number };
  log?: Logger;
}

/** Builds the outbox message for an event once its id is known; undefined keeps the event local. */
export type ToOutbox = (event: StoredEvent) => OutboxMessage | undefined;

type ForEvent = (id: string, build: ToOutbox, merge: string | null, supersede: string) => StoredEvent | undefined;

const DISK_STATUS_MAX_AGE_MS = 1000;
const EVENT_COLUMNS = 'id, ts, stream, rule, severity, kind, payload, created_at, uplinked_at';
const MAX_LIST = 10_000;

/**
 * Events and the outbox, in one SQLite file. An event is accepted when `recordEvent` returns: the
 * event and its outbox message committed together, so the uplink can never send an event that is
 * not stored, nor lose one that is.
 */
export class EventStore implements EvidenceFileSink {
  private readonly now: () => number;
  private readonly insertEvent: Statement<[string, number, string, string, string, string, string, number]>;
  private readonly insertOutbox: Statement<[string | null, string, string, number, number, number, Buffer | null]>;
  private readonly peek: Statement<[string, number], OutboxDbRow>;
  private readonly partOf: Statement<[number], PartDbRow>;
  private readonly deleteRow: Statement<[number], { event_id: string | null; binary: number; evidence_kind: string | null; evidence_length: number | null }>;
  private readonly markUplinked: Statement<[number, string]>;
  private readonly bumpAttempts: Statement<[number]>;
  private readonly stats: Statement<[], { depth: number; oldest: number | null }>;
  private readonly byId: Statement<[string], EventRow>;
  private readonly lists = new Map<string, Statement<unknown[], EventRow>>();
  private readonly bumpAttemptsMany: Statement<[string]>;
  private readonly byPriority: Statement<[], { priority: number; depth: number; oldest: number }>;
  private readonly eventCount: Statement<[], number>;
  private readonly record: (event: NewEvent, toOutbox?: ToOutbox) => StoredEvent;
  private readonly recordMany: (events: readonly NewEvent[], toOutbox?: ToOutbox) => StoredEvent[];
  private readonly ack: (seq: number) => boolean;
  private readonly enqueueOne: (message: OutboxMessage, keepLatest?: number) => number;
  private readonly ackMany: (seqs: readonly number[]) => number;
  private readonly budget: DiskBudget | null;
  private readonly budgetCheckEvery: number;
  private readonly notices: ToOutbox | undefined;
  private readonly log: Logger | undefined;
  private insertsSinceCheck = 0;
  private evictions: EvictionTotals = {
    runs: 0, delivered: 0, lost: { info: 0, warning: 0, alert: 0, critical: 0 }, oldestLostTs: null, lastRunAt: null, snapshots: 0,
    evidenceFiles: 0, evidenceUndelivered: 0, evidenceBytes: 0,
  };
  /** The files and filesystem around the database; null without `disk`. */
  private readonly space: DiskSpace | null;
  private readonly walLimitBytes: number;
  private spaceTimer: NodeJS.Timeout | undefined;
  private reserveShortfalls = 0;
  private lastShortfallLog = 0;

  /** The corrupt database this store replaced at open, if any. */
  readonly quarantine: Quarantine | null;
  /** Timings, snapshots and reviews of events (annotations.ts). */
  private readonly notes: Annotations;
  /** Evidence files of events (evidence-table.ts). */
  private readonly evidence: EvidenceTable;
  private readonly insertPart: Statement<[string, string, string, number, number, number, string, number, number, number, number]>;
  private readonly after: Statement<[string, number], EventRow>;

  static open(dir: string, options: EventStoreOptions = {}): EventStore {
    if (!options.recover) return new EventStore(openDatabase(dir, options), options);
    const opened = openWithRecovery(dir, options);
    return new EventStore(opened.db, options, opened.quarantine);
  }

  /** `db` stays public so that later tables (snapshots, labels) can share the one connection. */
  constructor(readonly db: Database, options: EventStoreOptions = {}, quarantine: Quarantine | null = null) {
    this.now = options.now ?? Date.now;
    this.quarantine = quarantine;
    this.notices = options.notices;
    this.log = options.log;
    this.budget = options.budgetBytes !== undefined ? new DiskBudget(db, options.budgetBytes) : null;
    this.budgetCheckEvery = Math.max(1, options.budgetCheckEvery ?? 200);
    this.walLimitBytes = options.walLimitBytes ?? DEFAULT_WAL_LIMIT_BYTES;
    this.space = options.disk ? newDiskSpace(path.dirname(db.name), options.disk, this.walLimitBytes, options.log) : null;
    this.insertEvent = db.prepare(`INSERT INTO events (id, ts, stream, rule, severity, kind, payload, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertOutbox = db.prepare(`INSERT INTO outbox (event_id, topic, payload, qos, priority, created_at, payload_blob)
      VALUES (?, ?, ?, ?, ?, ?, ?)`);
    // The in-flight seqs arrive as one JSON array so that a single prepared statement serves any
    // window size; json_each over a few hundred numbers is far cheaper than re-preparing.
    // One more column than before, and no join: a part's details (partOf) are read only for the
    // rows that send part of an evidence file, so a backlog of events drains as fast as it did.
    this.peek = db.prepare(`SELECT seq, event_id, topic, payload, qos, priority, created_at, attempts, payload_blob, evidence_kind
      FROM outbox WHERE seq NOT IN (SELECT value FROM json_each(?))
      ORDER BY priority, seq LIMIT ?`);
    this.partOf = db.prepare(`SELECT o.evidence_offset, o.evidence_length, o.evidence_index, o.evidence_count,
        f.path AS file_path, f.bytes AS file_bytes, f.sha256 AS file_sha256
      FROM outbox AS o LEFT JOIN evidence_files AS f ON f.event_id = o.event_id AND f.kind = o.evidence_kind WHERE o.seq = ?`);
    this.deleteRow = db.prepare(`DELETE FROM outbox WHERE seq = ?
      RETURNING event_id, payload_blob IS NOT NULL OR evidence_kind IS NOT NULL AS binary, evidence_kind, evidence_length`);
    this.markUplinked = db.prepare('UPDATE events SET uplinked_at = ? WHERE id = ? AND uplinked_at IS NULL');
    this.bumpAttempts = db.prepare('UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?');
    // The oldest row is the first queued one: found through the primary key instead of a scan of
    // every payload, which took 23 ms at a 100 000-row backlog and stalled the drain it measured.
    this.stats = db.prepare(`SELECT count(*) AS depth, (SELECT created_at FROM outbox ORDER BY seq LIMIT 1) AS oldest
      FROM outbox`);
    this.byId = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ?`);
    this.bumpAttemptsMany = db.prepare('UPDATE outbox SET attempts = attempts + 1 WHERE seq IN (SELECT value FROM json_each(?))');
    this.byPriority = db.prepare(`SELECT priority, count(*) AS depth,
        (SELECT created_at FROM outbox AS first WHERE first.priority = o.priority ORDER BY seq LIMIT 1) AS oldest
      FROM outbox AS o GROUP BY priority ORDER BY priority`);
    this.eventCount = db.prepare('SELECT count(*) FROM events').pluck() as Statement<[], number>;
    this.notes = new Annotations(db);
    this.evidence = new EvidenceTable(db);
    this.insertPart = db.prepare(`INSERT INTO outbox (event_id, topic, payload, qos, priority, created_at,
      evidence_kind, evidence_offset, evidence_length, evidence_index, evidence_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.after = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?`);

    const insertOne = (event: NewEvent, toOutbox?: ToOutbox): StoredEvent => {
      const stored: StoredEvent = { ...event, id: uuidv7(), createdAt: this.now(), uplinkedAt: null };
      this.insertEvent.run(stored.id, stored.ts, stored.stream, stored.rule, stored.severity, stored.kind,
        JSON.stringify(stored.payload), stored.createdAt);
      const message = toOutbox?.(stored);
      if (message) {
        this.insertOutbox.run(stored.id, message.topic, message.payload, message.qos, message.priority, stored.createdAt, message.blob ?? null);
        this.rowsQueued = true;
      }
      return stored;
    };
    this.record = writeTransaction(db, insertOne);
    this.recordMany = writeTransaction(db, (events: readonly NewEvent[], toOutbox?: ToOutbox) =>
      events.map((e) => insertOne(e, toOutbox)));
    const ackOne = (seq: number): boolean => {
      const row = this.deleteRow.get(seq);
      if (!row) return false;
      if (row.event_id !== null && row.evidence_kind !== null) this.evidence.delivered(row.event_id, row.evidence_kind, row.evidence_length ?? 0);
      // An evidence snapshot acknowledged says nothing about whether the alert itself arrived.
      if (row.event_id !== null && row.binary === 0) {
        const at = this.now();
        if (this.markUplinked.run(at, row.event_id).changes > 0) this.firstAcks.push({ eventId: row.event_id, at });
      }
      return true;
    };
    this.ack = writeTransaction(db, ackOne);
    const trimTopic = db.prepare<[string, string, number]>(`DELETE FROM outbox WHERE event_id IS NULL AND topic = ? AND seq NOT IN
      (SELECT seq FROM outbox WHERE event_id IS NULL AND topic = ? ORDER BY seq DESC LIMIT ?)`);
    this.enqueueOne = writeTransaction(db, (message: OutboxMessage, keepLatest?: number): number => {
      const { lastInsertRowid } = this.insertOutbox.run(null, message.topic, message.payload, message.qos, message.priority, this.now(), message.blob ?? null);
      if (keepLatest !== undefined) trimTopic.run(message.topic, message.topic, Math.max(1, keepLatest));
      return Number(lastInsertRowid);
    });
    this.ackMany = writeTransaction(db, (seqs: readonly number[]) => seqs.reduce((n, seq) => n + (ackOne(seq) ? 1 : 0), 0));

    if (quarantine) this.reportQuarantine(quarantine);
    if (this.budget || this.space) this.checkBudget();
    const every = options.disk?.checkEveryMs ?? 10_000;
    if (this.space && every > 0) {
      this.spaceTimer = setInterval(() => this.checkBudget(), every);
      this.spaceTimer.unref();
    }
  }

  /**
   * Stores the event and, when `toOutbox` returns a message, its outbox row, in one transaction:
   * if either insert (or `toOutbox` itself) throws, neither is kept. The disk budget is enforced
   * after the commit, never before: a new alert is accepted however full the database is, and
   * older, less important rows make room for it.
   */
  recordEvent(event: NewEvent, toOutbox?: ToOutbox): StoredEvent {
    this.rowsQueued = false;
    const stored = this.withFullDiskRetry(() => this.record(event, toOutbox));
    this.counted(1);
    this.announceIfQueued();
    return stored;
  }

  /**
   * Stores many events in one transaction (one fsync for all): all of them are accepted or none.
   * For producers with bursts, and for the benchmark; the live path records one event at a time.
   */
  recordEvents(events: readonly NewEvent[], toOutbox?: ToOutbox): StoredEvent[] {
    if (events.length === 0) return [];
    this.rowsQueued = false;
    const stored = this.withFullDiskRetry(() => this.recordMany(events, toOutbox));
    this.counted(events.length);
    this.announceIfQueued();
    return stored;
  }

  /**
   * Queues a message that is not an event (telemetry): no event row, so nothing for vigilctl to
   * list and nothing the budget's eviction policy weighs. With `keepLatest`, older rows on the same
   * topic beyond that many are dropped in the same transaction, so that months of reports queued
   * through an outage stay bounded and never push events out of the budget. Committed with
   * synchronous=NORMAL: losing the last report to a power cut costs nothing that the next one
   * does not replace.
   */
  enqueue(message: OutboxMessage, keepLatest?: number): number {
    const seq = this.relaxed(() => this.enqueueOne(message, keepLatest));
    this.announceEnqueued();
    return seq;
  }

  /**
   * Queues messages that are not this device's events, in one transaction at synchronous=FULL:
   * a pair peer's accepted and undelivered event messages, relayed at a takeover
   * (pair/peer-replica.ts). They must survive a power cut as the peer's own commit did.
   */
  enqueueDurable(messages: readonly OutboxMessage[]): number[] {
    if (messages.length === 0) return [];
    const seqs = this.withFullDiskRetry(() => writeTransaction(this.db, () => messages.map((m) => this.enqueueOne(m)))());
    this.announceEnqueued();
    return seqs;
  }

  /**
   * Subscribes to new outbox rows: told after every commit that added some (recordEvent(s),
   * enqueue, enqueueForEvent, and the store writer's commits through announceEnqueued), so the
   * uplink wakes its drainer without each writer ringing it. Returns the unsubscribe.
   */
  onEnqueued(listener: () => void): () => void {
    this.enqueuedListeners.add(listener);
    return () => { this.enqueuedListeners.delete(listener); };
  }

  /** Tells the listeners that outbox rows were committed; also for rows another connection (the store writer's thread) committed. A throw is logged, never passed on. */
  announceEnqueued(): void {
    for (const listener of this.enqueuedListeners) {
      try {
        listener();
      } catch (err) {
        this.log?.warn({ err: errorMessage(err) }, 'enqueued listener failed');
      }
    }
  }

  private readonly enqueuedListeners = new Set<() => void>();
  /** Set by an outbox insert inside a public write; announced once that write has committed. */
  private rowsQueued = false;

  private announceIfQueued(): void {
    if (!this.rowsQueued) return;
    this.rowsQueued = false;
    this.announceEnqueued();
  }

  /**
   * Merges fields into a stored event's payload (JSON merge patch): how the analytics close an
   * activity (`ended_at`, `duration_s`) on the event its start created. The outbox message is not
   * touched. False when the event is gone (evicted).
   */
  mergePayload(id: string, fields: Record<string, unknown>): boolean {
    this.mergeStmt ??= this.db.prepare<[string, string]>('UPDATE events SET payload = json_patch(payload, ?) WHERE id = ?');
    return this.withFullDiskRetry(() => this.mergeStmt!.run(JSON.stringify(fields), id).changes > 0);
  }

  private mergeStmt: Statement<[string, string]> | null = null;

  /**
   * Queues one more message for an existing event (an activity's update or end), with the event's
   * id in the row so that it is sent with the same `event_id` and priority rules as the first.
   * In one transaction: `merge` is applied to the payload (as `mergePayload`), the message is built
   * from the event as it now is, and the still-queued rows of this event whose payload `activity`
   * is one of `supersede` are dropped, so that an outage leaves one pending update per activity
   * instead of one per interval. A superseded row already handed to the broker is harmless: its
   * PUBACK then finds nothing to delete. Undefined, and nothing queued, when the event is gone
   * (evicted): there is no stored event left to describe.
   */
  enqueueForEvent(eventId: string, toOutbox: ToOutbox,
    options: { merge?: Record<string, unknown>; supersede?: readonly string[]; relaxed?: boolean } = {}): StoredEvent | undefined {
    this.forEvent ??= ((): ForEvent => {
      const patch = this.db.prepare<[string, string]>('UPDATE events SET payload = json_patch(payload, ?) WHERE id = ?');
      // CASE, not AND: SQLite may evaluate either side of an AND first, and json_extract of a
      // binary row's empty text payload is an error.
      const drop = this.db.prepare<[string, string]>(`DELETE FROM outbox WHERE event_id = ?
        AND CASE WHEN payload_blob IS NULL AND evidence_kind IS NULL THEN json_extract(payload, '$.activity') END IN (SELECT value FROM json_each(?))`);
      return writeTransaction(this.db, (id: string, build: ToOutbox, merge: string | null, supersede: string) => {
        if (merge !== null) patch.run(merge, id);
        const row = this.byId.get(id);
        if (!row) return undefined;
        const event = toEvent(row);
        drop.run(id, supersede);
        const message = build(event);
        if (message) {
          this.insertOutbox.run(id, message.topic, message.payload, message.qos, message.priority, this.now(), message.blob ?? null);
          this.rowsQueued = true;
        }
        return event;
      });
    })();
    const forEvent = this.forEvent;
    const merge = options.merge !== undefined ? JSON.stringify(options.merge) : null;
    const run = (): StoredEvent | undefined => forEvent(eventId, toOutbox, merge, JSON.stringify(options.supersede ?? []));
    this.rowsQueued = false;
    // relaxed: synchronous=NORMAL, for messages whose loss to a power cut costs little (an evidence
    // snapshot): no fsync on the event loop for them.
    const event = this.withFullDiskRetry(() => (options.relaxed ? this.relaxed(run) : run()));
    this.announceIfQueued();
    return event;
  }

  private forEvent: ForEvent | null = null;

  getEvent(id: string): StoredEvent | undefined {
    const row = this.byId.get(id);
    return row && toEvent(row);
  }

  listEvents(query: EventQuery = {}): StoredEvent[] {
    const order = query.order ?? 'desc';
    const byStream = query.stream !== undefined;
    const key = `${byStream ? 's' : '-'}${order}`;
    let stmt = this.lists.get(key);
    if (!stmt) {
      stmt = this.db.prepare(`SELECT ${EVENT_COLUMNS} FROM events
        WHERE ${byStream ? 'stream = @stream AND ' : ''}ts >= @since
        ORDER BY ts ${order === 'asc' ? 'ASC' : 'DESC'}, id ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT @limit`);
      this.lists.set(key, stmt);
    }
    const params: Record<string, unknown> = {
      since: query.since ?? 0,
      limit: Math.min(Math.max(query.limit ?? 100, 0), MAX_LIST),
    };
    if (byStream) params['stream'] = query.stream;
    return stmt.all(params).map(toEvent);
  }

  /**
   * Events stored after the one with id `cursor` (ids are uuid v7, so they sort by creation), oldest
   * first: `vigilctl events tail` and the hub poll with the last id they saw. '' starts at the oldest.
   */
  eventsAfter(cursor: string, limit = 100): StoredEvent[] {
    return this.after.all(cursor, Math.min(Math.max(limit, 0), MAX_LIST)).map(toEvent);
  }

  /**
   * Records when an event reached a response stage; false when the event is gone. Written with
   * synchronous=NORMAL: a timing lost to a power cut costs a sample, not an event.
   */
  recordTiming(eventId: string, stage: TimingStage, at: number): boolean {
    return this.relaxed(() => this.notes.setTiming(eventId, stage, at));
  }

  timings(eventId: string): EventTimings | null {
    return this.notes.timings(eventId);
  }

  /**
   * Stores an operator's verdict on an event as a label (one per event; a new one replaces it),
   * fully synced: labels are what on-device learning trains on. False when there is no such event.
   */
  reviewEvent(review: Review): boolean {
    return this.withFullDiskRetry(() => this.notes.review(review));
  }

  getReview(eventId: string): Review | null {
    return this.notes.getReview(eventId);
  }

  /** Every review given at or after `since` (ms), oldest first: the labels for federated learning. */
  listReviews(since = 0, limit = MAX_LIST): Review[] {
    return this.notes.listReviews(since, limit);
  }

  /**
   * Builds the outbox rows of an evidence file (uplink/evidence-message.ts: parts that reference the
   * file, never its bytes); null or an empty list keeps files local. Set by the composition root.
   */
  evidenceOutbox: ((file: EvidenceFile) => QueuedPart[]) | null = null;

  /**
   * Records a finished evidence file of an event (a snapshot, a clip) and queues its parts for the
   * hub, after the event's own messages (larger seqs, evidence priority), in one fully synced
   * transaction with `merge` applied to the event's payload (a snapshot's reference for the end
   * message). A file recorded again replaces the row and its queued parts. False, and nothing
   * written, when the event no longer exists (evicted): the caller deletes the file.
   */
  addEvidenceFile(file: EvidenceFile, options: { merge?: Record<string, unknown> } = {}): boolean {
    this.addFile ??= writeTransaction(this.db, (f: EvidenceFile, merge: string | null): boolean => {
      if (!this.byId.get(f.eventId)) return false;
      if (merge !== null) {
        this.mergeStmt ??= this.db.prepare<[string, string]>('UPDATE events SET payload = json_patch(payload, ?) WHERE id = ?');
        this.mergeStmt.run(merge, f.eventId);
      }
      this.evidence.put(f);
      const at = this.now();
      for (const p of this.evidenceOutbox?.(f) ?? []) {
        this.insertPart.run(f.eventId, p.topic, p.payload, p.qos, p.priority, at, f.kind, p.offset, p.length, p.index, p.count);
        this.rowsQueued = true;
      }
      return true;
    });
    const add = this.addFile;
    this.rowsQueued = false;
    const merge = options.merge !== undefined ? JSON.stringify(options.merge) : null;
    const added = this.withFullDiskRetry(() => add(file, merge));
    this.announceIfQueued();
    if (added && this.onEvidenceAdded) {
      try {
        this.onEvidenceAdded(file);
      } catch (err) {
        this.log?.warn({ err: errorMessage(err) }, 'evidence listener failed');
      }
    }
    return added;
  }

  /** Called after an evidence file was recorded, so that retention keeps evidence.max_mb (parts.ts wires it). */
  onEvidenceAdded: ((file: EvidenceFile) => void) | null = null;

  private addFile: ((f: EvidenceFile, merge: string | null) => boolean) | null = null;

  /** An event's evidence files (clip first, then snapshot); [] when none. */
  evidenceOf(eventId: string): StoredEvidenceFile[] {
    return this.evidence.ofEventFiles(eventId);
  }

  evidenceFile(eventId: string, kind: EvidenceKind): StoredEvidenceFile | null {
    return this.evidence.get(eventId, kind);
  }

  /** The event's snapshot, if it has one. */
  snapshotOf(eventId: string): Snapshot | null {
    return this.evidence.get(eventId, 'snapshot');
  }

  /** Evidence files whose event is gone (evicted): their files are deleted, then forgotten. */
  orphanEvidence(): StoredEvidenceFile[] {
    return this.evidence.orphans();
  }

  /**
   * The next evidence files to delete when over evidence.max_mb or short of the disk reserve: those
   * of evicted events, then those the hub has whole, then by the event's severity, least first, and
   * age, oldest first.
   */
  evidenceEvictionOrder(limit: number): EvidenceCandidate[] {
    return this.evidence.evictionOrder(limit);
  }

  /** Forgets an evidence file (its file already deleted) and drops its parts still queued. */
  forgetEvidence(eventId: string, kind: EvidenceKind): void {
    this.relaxed(() => writeTransaction(this.db, () => this.evidence.remove(eventId, kind))());
  }

  /** Bytes of every evidence file recorded. */
  evidenceBytes(): number {
    return this.evidence.totalBytes();
  }

  /** Evidence files recorded before their sha256 was (migration 5), to be hashed once. */
  unhashedEvidence(): StoredEvidenceFile[] {
    return this.evidence.unhashed();
  }

  setEvidenceHash(eventId: string, kind: EvidenceKind, sha256: string): void {
    this.relaxed(() => this.evidence.setHash(eventId, kind, sha256));
  }

  /**
   * An evidence file that is no longer what was recorded: it is marked refused, its queued parts are
   * dropped, and a `vigil.storage/1` `evidence_refused` notice (a warning event) tells the hub, in
   * one transaction. False when it was refused already or is not recorded (nothing written).
   */
  refuseEvidence(notice: Omit<EvidenceRefusedNotice, 'kind'>): boolean {
    return this.withFullDiskRetry(() => {
      this.rowsQueued = false;
      const done = writeTransaction(this.db, () => {
        const f = this.evidence.get(notice.event_id, notice.file_kind);
        // Parts of a file no longer recorded cannot be sent either: they go, without a notice.
        if (!f) this.evidence.remove(notice.event_id, notice.file_kind);
        if (!f || f.refused !== null) return false;
        this.evidence.refuse(notice.event_id, notice.file_kind, notice.reason);
        this.recordNotice('warning', { kind: 'evidence_refused', ...notice });
        return true;
      })();
      this.announceIfQueued();
      return done;
    });
  }

  /**
   * Counts evidence files deleted by the evidence service (evidence.max_mb, the disk reserve, their
   * event evicted) in the running eviction report (recordEviction), so the hub learns of them as of
   * evicted events.
   */
  reportEvidenceEviction(files: number, undelivered: number, bytes: number): void {
    if (files <= 0) return;
    const p = this.pendingEvidence;
    this.pendingEvidence = { files: p.files + files, undelivered: p.undelivered + undelivered, bytes: p.bytes + bytes };
    // Inside a space check (the disk short of its reserve, or full) a report would write to the
    // disk being rescued: it joins the check's own eviction report, or is written once it is over.
    if (this.spaceChecks === 0 && this.hasRoom()) this.flushEvidenceReport();
  }

  private pendingEvidence = { files: 0, undelivered: 0, bytes: 0 };
  private spaceChecks = 0;

  /** Moves the evidence evictions not yet reported into `run` (inside its transaction). */
  private takeEvidence(run: EvictionRun): EvictionRun {
    const p = this.pendingEvidence;
    if (p.files === 0) return run;
    this.pendingEvidence = { files: 0, undelivered: 0, bytes: 0 };
    return { ...run, evidenceFiles: (run.evidenceFiles ?? 0) + p.files, evidenceUndelivered: (run.evidenceUndelivered ?? 0) + p.undelivered,
      evidenceBytes: (run.evidenceBytes ?? 0) + p.bytes };
  }

  /**
   * Whether a report of its own may be written now: the filesystem comfortably above its reserve
   * (always, without a disk to watch). Near the reserve, evidence deletions join the next eviction
   * run's report instead, which is written anyway: a report must not be what fills the disk.
   */
  private hasRoom(): boolean {
    const space = this.space;
    if (!space) return true;
    const r = this.room(this.budget ?? new DiskBudget(this.db, Number.POSITIVE_INFINITY), space);
    return !r || r.room >= 2 * r.reserve;
  }

  private flushEvidenceReport(): void {
    const p = this.pendingEvidence;
    if (p.files === 0) return;
    try {
      const used = (this.budget ?? new DiskBudget(this.db, Number.POSITIVE_INFINITY)).usedBytes();
      const empty: EvictionRun = {
        delivered: 0, lost: { info: 0, warning: 0, alert: 0, critical: 0 }, snapshots: 0, oldestLostTs: null, newestLostTs: null,
        usedBefore: used, usedAfter: used,
      };
      this.rowsQueued = false;
      this.relaxed(() => writeTransaction(this.db, () => {
        this.evictions = this.recordEviction(this.takeEvidence(empty));
      })());
      this.announceIfQueued();
    } catch (err) {
      // Kept for the next try (the next eviction run or evidence eviction).
      this.pendingEvidence = p;
      this.log?.error({ err: errorMessage(err), files: p.files }, 'cannot report evidence files deleted; retrying with the next eviction');
    }
  }

  /** Called after an eviction run committed, so that files kept beside the events (snapshots) follow them. */
  onEvicted: (() => void) | null = null;

  /** The next rows to send, most urgent first, skipping those already awaiting a PUBACK. */
  peekOutbox(limit: number, exclude: Iterable<number> = []): OutboxRow[] {
    if (limit <= 0) return [];
    return this.peek.all(JSON.stringify([...exclude]), limit).map((r) => toOutboxRow(r, r.evidence_kind !== null ? this.partOf.get(r.seq) : undefined));
  }

  /** Removes a row once the broker has acknowledged it; false when it was already gone. */
  deleteOutbox(seq: number): boolean {
    this.firstAcks = [];
    const gone = this.relaxed(() => this.ack(seq));
    this.reportFirstAcks();
    return gone;
  }

  /**
   * Removes the rows of a batch of PUBACKs in one transaction; returns how many were still there.
   * One commit per batch instead of per message is what lets a backlog drain at broker speed.
   */
  ackOutbox(seqs: readonly number[]): number {
    if (seqs.length === 0) return 0;
    this.firstAcks = [];
    const n = this.relaxed(() => this.ackMany(seqs));
    this.reportFirstAcks();
    return n;
  }

  /**
   * Called after a PUBACK batch is committed with each event whose first message it acknowledged
   * (its `uplinked_at` was just set), for the tier-2 timings. A throw is logged, never passed on.
   */
  onUplinked: ((eventId: string, at: number) => void) | null = null;
  private firstAcks: { eventId: string; at: number }[] = [];

  private reportFirstAcks(): void {
    const acks = this.firstAcks;
    this.firstAcks = [];
    const listener = this.onUplinked;
    if (!listener) return;
    for (const a of acks) {
      try {
        listener(a.eventId, a.at);
      } catch (err) {
        this.log?.warn({ err: errorMessage(err), event: a.eventId }, 'uplinked listener failed');
      }
    }
  }

  /** Counts a hand-over to the MQTT client, so that a message that never gets through stands out. */
  markAttempt(seq: number): void {
    this.relaxed(() => this.bumpAttempts.run(seq));
  }

  markAttempts(seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    this.relaxed(() => this.bumpAttemptsMany.run(JSON.stringify(seqs)));
  }

  /** Depth and age of the oldest row per priority: a stuck alert must not hide behind a total. */
  outboxByPriority(): OutboxPriorityStats[] {
    const now = this.now();
    return this.byPriority.all().map((r) => ({ priority: r.priority, depth: r.depth, oldestAgeMs: Math.max(0, now - r.oldest) }));
  }

  storageStatus(): StorageStatus {
    const budget = this.budget ?? new DiskBudget(this.db, Number.POSITIVE_INFINITY);
    const q = this.quarantine;
    return {
      usedBytes: budget.usedBytes(),
      fileBytes: budget.fileBytes(),
      budgetBytes: this.budget?.budgetBytes ?? null,
      events: this.eventCount.get() ?? 0,
      evictions: { ...this.evictions, lost: { ...this.evictions.lost } },
      quarantine: q ? { file: q.file, movedTo: [...q.movedTo], reason: q.reason, at: q.at } : null,
      ...(this.space ? { disk: this.cachedDisk(budget, this.space) } : {}),
    };
  }

  /**
   * The disk figures cost a statfs, stats of the WAL and ballast and a query; status is read by the
   * watchdog, telemetry and every /metrics scrape, so they are measured at most once a second, and
   * again after anything this store did to the disk (a budget check, an emergency).
   */
  private cachedDisk(budget: DiskBudget, space: DiskSpace): StorageDisk {
    const now = Date.now();
    if (this.disk === null || now - this.disk.at >= DISK_STATUS_MAX_AGE_MS) this.disk = { at: now, figures: this.diskStatus(budget, space) };
    return this.disk.figures;
  }

  private disk: { at: number; figures: StorageDisk } | null = null;

  private diskStatus(budget: DiskBudget, space: DiskSpace): StorageDisk {
    const fs = space.filesystem();
    const files = space.files();
    return {
      dbBytes: budget.usedBytes(), walBytes: files.walBytes, evidenceBytes: this.evidence.totalBytes(),
      modelBytes: files.modelBytes, otherBytes: files.otherBytes, ballastBytes: files.ballastBytes,
      reserveBytes: space.reserveBytes(fs), fsFreeBytes: fs?.free ?? null, fsTotalBytes: fs?.total ?? null,
      reserveShortfalls: this.reserveShortfalls,
    };
  }

  /**
   * Called with the bytes the filesystem is short of its reserve, before any event is evicted for
   * it; returns the bytes it freed. The evidence service deletes its oldest snapshots here: a
   * picture of an event is given up before the event.
   */
  onSpaceNeeded: ((bytes: number) => number) | null = null;

  /**
   * Enforces the budget now; normally it runs by itself every `budgetCheckEvery` inserts. Returns
   * what was evicted, or null when nothing had to be.
   */
  enforceBudget(): EvictionRun | null {
    this.spaceChecks += 1;
    try {
      return this.enforceBudgetNow();
    } finally {
      this.spaceChecks -= 1;
      if (this.spaceChecks === 0 && this.pendingEvidence.files > 0 && this.hasRoom()) {
        this.flushEvidenceReport();
        // Its WAL frames go back into the database at once, as an eviction run's do.
        if (this.space) this.checkpoint('PASSIVE');
      }
    }
  }

  private enforceBudgetNow(): EvictionRun | null {
    this.insertsSinceCheck = 0;
    const budget = this.budget ?? (this.space ? new DiskBudget(this.db, Number.POSITIVE_INFINITY) : null);
    if (!budget) return null;
    let target = budget.overBudget() ? budget.budgetBytes * 0.9 : Number.POSITIVE_INFINITY;
    const space = this.space;
    if (space) {
      // What the filesystem lacks after the cheap remedies (WAL, evidence) becomes free pages in
      // the database: SQLite fills those before it asks the filesystem for more.
      const short = this.freeForReserve(budget, space);
      if (short > 0) target = Math.min(target, Math.max(0, budget.usedBytes() - short));
    }
    const run = Number.isFinite(target) ? this.evictAndReport(() => budget.evict(target)) : null;
    if (space) this.afterSpaceCheck(budget, space);
    return run;
  }

  /**
   * Room on the filesystem as SQLite sees it: free bytes, plus the database's free pages, less what
   * the WAL may still grow to its bound. Kept at or above the reserve.
   */
  private room(budget: DiskBudget, space: DiskSpace): { room: number; reserve: number } | null {
    const fs = space.filesystem();
    if (!fs) return null;
    const wal = space.files().walBytes;
    return { room: fs.free + budget.freeBytes() - Math.max(0, this.walLimitBytes - wal), reserve: space.reserveBytes(fs) };
  }

  /**
   * Frees what costs no event first: a WAL grown past its bound (a long drain, a reader holding a
   * snapshot), then evidence snapshots (onSpaceNeeded). Returns the bytes still missing, with a
   * tenth of the reserve on top, so that the next check does not land here again at once.
   */
  private freeForReserve(budget: DiskBudget, space: DiskSpace): number {
    let r = this.room(budget, space);
    if (!r || r.room >= r.reserve) return 0;
    if (space.files().walBytes > 2 * this.walLimitBytes) {
      this.checkpoint('TRUNCATE');
      r = this.room(budget, space) ?? r;
    }
    const slack = r.reserve / 10;
    let short = r.reserve + slack - r.room;
    if (short > 0 && this.onSpaceNeeded) {
      try {
        short -= this.onSpaceNeeded(short);
      } catch (err) {
        this.log?.warn({ err: errorMessage(err) }, 'cannot free evidence for the disk reserve');
      }
    }
    return Math.max(0, short);
  }

  /** Counts and logs a reserve the policy could not restore; puts the ballast back once there is room. */
  private afterSpaceCheck(budget: DiskBudget, space: DiskSpace): void {
    const r = this.room(budget, space);
    if (!r) return;
    if (r.room < r.reserve) {
      this.reserveShortfalls += 1;
      const now = this.now();
      if (now - this.lastShortfallLog >= 60_000) {
        this.lastShortfallLog = now;
        const fs = space.filesystem();
        this.log?.error({ room_bytes: Math.round(r.room), reserve_bytes: r.reserve, fs_free_bytes: fs?.free, files: space.files(true) },
          'the disk is below its reserve and nothing more can be evicted: something else fills the filesystem, or the budgets exceed it');
      }
      return;
    }
    const failed = space.restoreBallast(space.filesystem());
    if (failed !== null) this.log?.warn({ err: failed }, 'cannot write the disk ballast');
  }

  private checkpoint(mode: 'PASSIVE' | 'RESTART' | 'TRUNCATE'): boolean {
    try {
      const row = this.db.pragma(`wal_checkpoint(${mode})`) as { busy: number }[];
      return row[0]?.busy === 0;
    } catch (err) {
      this.log?.warn({ err: errorMessage(err), mode }, 'WAL checkpoint failed');
      return false;
    }
  }

  /**
   * The filesystem is full (SQLITE_FULL, or less free than the WAL may grow): even the deletes that
   * make room write first (WAL frames), and a checkpoint may grow the main file. So give the
   * filesystem something back before evicting: the ballast, evidence snapshots, and the WAL's
   * file once checkpointed. Returns the bytes freed.
   */
  private emergencyRoom(): number {
    this.spaceChecks += 1;
    try {
      return this.emergencyRoomNow();
    } finally {
      this.spaceChecks -= 1;
    }
  }

  private emergencyRoomNow(): number {
    this.disk = null;
    const space = this.space;
    let freed = space?.releaseBallast() ?? 0;
    if (freed > 0) this.log?.error({ bytes: freed }, 'the disk is full: released the ballast so that eviction can write');
    if (this.onSpaceNeeded) {
      try {
        freed += this.onSpaceNeeded(Math.max(this.walLimitBytes, space?.reserveBytes() ?? 0));
      } catch (err) {
        this.log?.warn({ err: errorMessage(err) }, 'cannot free evidence on a full disk');
      }
    }
    this.checkpoint('TRUNCATE');
    return freed;
  }

  outboxStats(): OutboxStats {
    const row = this.stats.get();
    const depth = row?.depth ?? 0;
    const oldest = row?.oldest ?? null;
    return { depth, oldestCreatedAt: oldest, oldestAgeMs: oldest === null ? null : Math.max(0, this.now() - oldest) };
  }

  close(): void {
    clearInterval(this.spaceTimer);
    if (this.db.open) this.db.close();
  }

  private counted(n: number): void {
    this.insertsSinceCheck += n;
    if ((this.budget || this.space) && this.insertsSinceCheck >= this.budgetCheckEvery) this.checkBudget();
  }

  private checkBudget(): void {
    this.disk = null;
    try {
      this.enforceBudget();
    } catch (err) {
      // The event that triggered the check is already committed; failing it now would make the
      // caller think it was lost. The next check tries again.
      this.log?.error({ err: errorMessage(err) }, 'cannot enforce the storage budget');
    }
  }

  /**
   * Events committed by another connection (the store writer's thread, store-writer.ts): they count
   * towards the next budget check as if recorded here.
   */
  noteInserted(n: number): void {
    this.counted(n);
  }

  /**
   * The store writer's commit failed with SQLITE_FULL: evict by policy as `withFullDiskRetry`
   * does, on this connection (relaxed). True when anything was evicted, so the commit may be tried
   * again; false when nothing could be (the writer then holds its events: degraded mode).
   */
  makeRoom(): boolean {
    try {
      const budget = this.budget ?? new DiskBudget(this.db, Number.POSITIVE_INFINITY);
      return this.evictAndReport(() => budget.evict(budget.usedBytes() * 0.75)) !== null;
    } catch (err) {
      this.log?.error({ err: errorMessage(err) }, 'the disk is full and eviction failed');
      return false;
    }
  }

  /**
   * SQLITE_FULL means the filesystem, not the budget, ran out (a budget set too high, or other files
   * on the partition). Rather than refuse the event, make room by policy and try once more.
   */
  private withFullDiskRetry<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'SQLITE_FULL') throw err;
      const budget = this.budget ?? new DiskBudget(this.db, Number.POSITIVE_INFINITY);
      this.log?.error({ err: errorMessage(err) }, 'the disk is full: evicting to make room for the new event');
      // A quarter of what is in use frees room for many more events, so the next insert does not
      // land here again at once.
      const run = this.evictAndReport(() => budget.evict(budget.usedBytes() * 0.75));
      if (!run) throw err;
      return fn();
    }
  }

  /**
   * Runs `evict` and records what it removed in the same transaction. With the disk watched, on a
   * nearly full filesystem, in steps: each transaction frees at most a quarter of the free space
   * (its deletes are written to the WAL first), and a checkpoint after each lets the next reuse the
   * WAL; steps go on until `evict` has nothing more to do or the reserve is back. A step that still
   * meets SQLITE_FULL gets the emergency room (ballast, evidence, WAL) and one more try.
   */
  private evictAndReport(evict: () => EvictionRun | null): EvictionRun | null {
    const space = this.space;
    const budget = this.budget;
    // Less free than the WAL may grow: the deletes below would meet a full disk half-way.
    const fs = space?.filesystem();
    if (fs && fs.free < this.walLimitBytes) this.emergencyRoom();
    const attempt = (): { run: EvictionRun; totals: EvictionTotals } | null => {
      // A rolled-back run reported nothing: the evidence it took is reported by the next.
      const pending = this.pendingEvidence;
      try {
        return this.relaxed(() => writeTransaction(this.db, () => {
          const evicted = evict();
          const run = evicted && this.takeEvidence(evicted);
          return run ? { run, totals: this.recordEviction(run) } : null;
        })());
      } catch (err) {
        this.pendingEvidence = pending;
        throw err;
      }
    };
    let all: EvictionRun | null = null;
    let rescued = false;
    // Bytes of pages one transaction may free; halved after each SQLITE_FULL, down to one row.
    let cap = Number.POSITIVE_INFINITY;
    for (let step = 0; step < (space && budget ? 1000 : 1); step += 1) {
      const free = space?.filesystem()?.free;
      if (budget && free !== undefined) budget.maxFreePerRun = Math.min(cap, Math.max(64 * 1024, free / 4));
      let done: { run: EvictionRun; totals: EvictionTotals } | null = null;
      for (;;) {
        try {
          done = attempt();
          break;
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'SQLITE_FULL' || !budget || budget.maxFreePerRun < 1024) throw err;
          if (!rescued) {
            rescued = true;
            this.log?.error({ err: errorMessage(err) }, 'the disk is too full to evict: freeing ballast, evidence and the WAL first');
            this.emergencyRoom();
          } else {
            this.checkpoint('PASSIVE');
          }
          // Smaller steps: each writes fewer WAL frames before it frees anything.
          cap = Math.min(budget.maxFreePerRun, 64 * 1024) / 2;
          budget.maxFreePerRun = cap;
        } finally {
          if (budget && done) budget.maxFreePerRun = Number.POSITIVE_INFINITY;
        }
      }
      if (budget) budget.maxFreePerRun = Number.POSITIVE_INFINITY;
      if (!done) break;
      // Only now: a rolled-back run evicted nothing and must count nothing.
      this.evictions = done.totals;
      all = all ? sumRuns(all, done.run) : done.run;
      if (!space || !budget) break;
      this.checkpoint('PASSIVE');
      const r = this.room(budget, space);
      if (!r || r.room >= r.reserve * 1.1) break;
    }
    if (!all) return null;
    try {
      this.onEvicted?.();
    } catch (err) {
      this.log?.warn({ err: errorMessage(err) }, 'eviction listener failed');
    }
    this.log?.warn({ delivered: all.delivered, lost: all.lost, snapshots: all.snapshots, oldest_lost_ts: isoOrNull(all.oldestLostTs),
      used_bytes: all.usedAfter, budget_bytes: this.budget?.budgetBytes }, 'storage budget: evicted events');
    return all;
  }

  /**
   * Runs inside the eviction's transaction, so that the report commits with what it reports; returns
   * the totals to keep once it has committed. The report is merged into the one still waiting, if
   * any (see `openReport`): one report row however many runs an outage sees, and never evicted
   * itself (budget.ts skips pending storage events).
   */
  private recordEviction(run: EvictionRun): EvictionTotals {
    const p = this.evictions;
    const t: EvictionTotals = {
      runs: p.runs + 1, delivered: p.delivered + run.delivered, lost: addLost(p.lost, run.lost), snapshots: p.snapshots + run.snapshots,
      evidenceFiles: (p.evidenceFiles ?? 0) + (run.evidenceFiles ?? 0), evidenceUndelivered: (p.evidenceUndelivered ?? 0) + (run.evidenceUndelivered ?? 0),
      evidenceBytes: (p.evidenceBytes ?? 0) + (run.evidenceBytes ?? 0),
      oldestLostTs: run.oldestLostTs === null ? p.oldestLostTs : Math.min(p.oldestLostTs ?? run.oldestLostTs, run.oldestLostTs),
      lastRunAt: this.now(),
    };
    const lost = lostCount(run.lost);
    let severity: Severity = run.lost.alert + run.lost.critical > 0 ? 'alert' : lost > 0 || (run.evidenceUndelivered ?? 0) > 0 ? 'warning' : 'info';
    let notice: Extract<StorageNotice, { kind: 'evicted' }> = {
      kind: 'evicted',
      delivered: run.delivered,
      lost: { ...run.lost },
      oldest_lost_ts: isoOrNull(run.oldestLostTs),
      newest_lost_ts: isoOrNull(run.newestLostTs),
      db_bytes: run.usedAfter,
      budget_bytes: Number.isFinite(this.budget?.budgetBytes) ? this.budget?.budgetBytes ?? 0 : 0,
      total_delivered: t.delivered,
      total_lost: lostCount(t.lost),
      runs: 1,
      snapshots: run.snapshots,
      evidence_files: run.evidenceFiles ?? 0,
      evidence_undelivered: run.evidenceUndelivered ?? 0,
      evidence_bytes: run.evidenceBytes ?? 0,
    };
    const open = this.openReport();
    if (!open) {
      this.recordNotice(severity, notice);
      return t;
    }
    const prev = open.notice;
    notice = {
      ...notice,
      delivered: prev.delivered + notice.delivered,
      lost: addLost(prev.lost, notice.lost),
      oldest_lost_ts: pickIso(prev.oldest_lost_ts, notice.oldest_lost_ts, Math.min),
      newest_lost_ts: pickIso(prev.newest_lost_ts, notice.newest_lost_ts, Math.max),
      runs: prev.runs + 1,
      snapshots: prev.snapshots + notice.snapshots,
      evidence_files: prev.evidence_files + notice.evidence_files,
      evidence_undelivered: prev.evidence_undelivered + notice.evidence_undelivered,
      evidence_bytes: prev.evidence_bytes + notice.evidence_bytes,
    };
    if (SEVERITY_RANK[open.severity] > SEVERITY_RANK[severity]) severity = open.severity;
    this.replaceNotice(open.id, severity, notice);
    return t;
  }

  private openReportStmt: Statement<[], { id: string; severity: string; payload: string }> | null = null;

  /**
   * The eviction report still waiting that later runs may be merged into: not yet acknowledged,
   * and never handed to the MQTT client (attempts = 0), so the hub cannot already hold it under its
   * id; a report that was handed over stays as it is and the next run starts a new one. So reports
   * never overlap.
   */
  private openReport(): { id: string; severity: Severity; notice: Extract<StorageNotice, { kind: 'evicted' }> } | null {
    this.openReportStmt ??= this.db.prepare(`SELECT id, severity, payload FROM events
      WHERE kind = '${STORAGE_EVENT_KIND}' AND uplinked_at IS NULL AND json_extract(payload, '$.storage.kind') = 'evicted'
        AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.event_id = events.id AND outbox.attempts > 0)
      ORDER BY created_at DESC LIMIT 1`);
    const row = this.openReportStmt.get();
    if (!row) return null;
    const parsed = storageNoticeSchema.safeParse((JSON.parse(row.payload) as { storage?: unknown }).storage);
    if (!parsed.success || parsed.data.kind !== 'evicted') return null;
    return { id: row.id, severity: severitySchema.parse(row.severity), notice: parsed.data };
  }

  private replaceStmts: { update: Statement<[string, string, number, string]>; drop: Statement<[string]> } | null = null;

  /** The merged report takes the old one's place: its payload, and a fresh outbox row built from it. */
  private replaceNotice(id: string, severity: Severity, notice: StorageNotice): void {
    this.replaceStmts ??= {
      update: this.db.prepare('UPDATE events SET payload = ?, severity = ?, ts = ? WHERE id = ?'),
      drop: this.db.prepare('DELETE FROM outbox WHERE event_id = ?'),
    };
    const ts = this.now();
    this.replaceStmts.update.run(JSON.stringify({ objects: [], storage: notice }), severity, ts, id);
    this.replaceStmts.drop.run(id);
    const event = this.getEvent(id);
    const message = event && this.notices?.(event);
    if (message) this.insertOutbox.run(id, message.topic, message.payload, message.qos, message.priority, ts, message.blob ?? null);
  }

  private reportQuarantine(q: Quarantine): void {
    // Critical and logged at error: the events in the old file will never reach the hub unless a
    // person recovers them, and only a person can.
    this.log?.error({ file: q.file, moved_to: q.movedTo, reason: q.reason },
      'the database could not be used (corrupt or empty): moved it aside and started an empty one');
    this.recordNotice('critical', { kind: 'quarantined', file: q.file, moved_to: [...q.movedTo], reason: q.reason });
  }

  /** Storage events are events: stored, listed by vigilctl and sent like any other. */
  private recordNotice(severity: Severity, notice: StorageNotice): void {
    this.record({
      ts: this.now(), stream: '', rule: STORAGE_EVENT_KIND, severity, kind: STORAGE_EVENT_KIND,
      payload: { objects: [], storage: notice },
    }, this.notices);
  }

  /** Runs `fn` with synchronous=NORMAL; for the data classes whose loss costs a duplicate (open.ts). */
  private relaxed<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    this.db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, alert: 2, critical: 3 };

function sumRuns(a: EvictionRun, b: EvictionRun): EvictionRun {
  return {
    delivered: a.delivered + b.delivered, lost: addLost(a.lost, b.lost), snapshots: a.snapshots + b.snapshots,
    oldestLostTs: a.oldestLostTs === null ? b.oldestLostTs : b.oldestLostTs === null ? a.oldestLostTs : Math.min(a.oldestLostTs, b.oldestLostTs),
    newestLostTs: a.newestLostTs === null ? b.newestLostTs : b.newestLostTs === null ? a.newestLostTs : Math.max(a.newestLostTs, b.newestLostTs),
    usedBefore: a.usedBefore, usedAfter: b.usedAfter,
    evidenceFiles: (a.evidenceFiles ?? 0) + (b.evidenceFiles ?? 0), evidenceUndelivered: (a.evidenceUndelivered ?? 0) + (b.evidenceUndelivered ?? 0),
    evidenceBytes: (a.evidenceBytes ?? 0) + (b.evidenceBytes ?? 0),
  };
}

function addLost(a: LostBySeverity, b: LostBySeverity): LostBySeverity {
  return { info: a.info + b.info, warning: a.warning + b.warning, alert: a.alert + b.alert, critical: a.critical + b.critical };
}

function pickIso(a: string | null, b: string | null, pick: (x: number, y: number) => number): string | null {
  if (a === null || b === null) return a ?? b;
  return new Date(pick(Date.parse(a), Date.parse(b))).toISOString();
}

/** The disk part of the budget, with the ballast rule: the WAL bound, at most half the reserve. */
function newDiskSpace(dir: string, disk: NonNullable<EventStoreOptions['disk']>, walLimit: number, log: Logger | undefined): DiskSpace {
  const reserve = reserveOf(disk.reserveBytes ?? null, filesystemSpace(dir));
  const ballast = disk.ballastBytes ?? Math.min(walLimit, Math.floor(reserve / 2));
  return new DiskSpace(dir, { reserveBytes: disk.reserveBytes ?? null, ballastBytes: ballast, ...(log ? { log } : {}) });
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function toEvent(row: EventRow): StoredEvent {
  return {
    id: row.id,
    ts: row.ts,
    stream: row.stream,
    rule: row.rule,
    severity: severitySchema.parse(row.severity),
    kind: row.kind,
    payload: eventPayloadSchema.parse(JSON.parse(row.payload)),
    createdAt: row.created_at,
    uplinkedAt: row.uplinked_at,
  };
}

function toOutboxRow(row: OutboxDbRow, part: PartDbRow | undefined): OutboxRow {
  return {
    seq: row.seq,
    eventId: row.event_id,
    topic: row.topic,
    payload: row.payload,
    qos: row.qos === 0 ? 0 : 1,
    priority: row.priority,
    createdAt: row.created_at,
    attempts: row.attempts,
    ...(row.payload_blob !== null ? { blob: row.payload_blob } : {}),
    ...(row.evidence_kind !== null ? {
      // A part whose file row is gone has path '': the drainer refuses it as missing.
      file: {
        kind: row.evidence_kind === 'clip' ? 'clip' : 'snapshot', path: part?.file_path ?? '', bytes: part?.file_bytes ?? 0, sha256: part?.file_sha256 ?? '',
        offset: part?.evidence_offset ?? 0, length: part?.evidence_length ?? 0, index: part?.evidence_index ?? 0, count: part?.evidence_count ?? 1,
      } as const,
    } : {}),
  };
}
