import { z } from 'zod';
import { severitySchema, type Severity } from '../config/schema.js';

const box = z.tuple([z.number(), z.number(), z.number(), z.number()]);

export const eventObjectSchema = z.object({ label: z.string(), score: z.number(), box });
export type EventObject = z.infer<typeof eventObjectSchema>;

/** What an event carries beyond its columns; kept open so that rule kinds can add fields. */
export const eventPayloadSchema = z.looseObject({ objects: z.array(eventObjectSchema) });
export type EventPayload = z.infer<typeof eventPayloadSchema>;

/** An event as the analytics stage hands it over; the store gives it an id and a creation time. */
export interface NewEvent {
  /** Time of the frame the event was detected in, ms since the epoch. */
  ts: number;
  stream: string;
  rule: string;
  severity: Severity;
  kind: string;
  payload: EventPayload;
}

export interface StoredEvent extends NewEvent {
  /** uuid v7 */
  id: string;
  createdAt: number;
  /** When the broker acknowledged the event's outbox message; null while it is pending. */
  uplinkedAt: number | null;
}

/** A stored event as the control protocol carries it (events.list, events.show, events.tail). */
export const storedEventSchema = z.strictObject({
  id: z.string(),
  ts: z.number(),
  stream: z.string(),
  rule: z.string(),
  severity: severitySchema,
  kind: z.string(),
  payload: eventPayloadSchema,
  createdAt: z.number(),
  uplinkedAt: z.number().nullable(),
}) satisfies z.ZodType<StoredEvent>;

/** A message to queue for the broker together with an event, in the same transaction. */
export interface OutboxMessage {
  topic: string;
  /** The message; '' when `blob` carries it. */
  payload: string;
  /** A binary message (an evidence JPEG), sent instead of `payload`. */
  blob?: Buffer;
  qos: 0 | 1;
  /** Lower is sent first. */
  priority: number;
}

export interface OutboxRow extends OutboxMessage {
  seq: number;
  eventId: string | null;
  createdAt: number;
  /** How many times it has been handed to the MQTT client. */
  attempts: number;
  /** A row that sends a part of an evidence file: the drainer reads these bytes at publish time. */
  file?: OutboxFilePart;
}

/**
 * A part of an evidence file an outbox row sends (evidence-table.ts, docs/evidence-delivery.md):
 * bytes [offset, offset + length) of `path`, part `index` of `count`. The row's payload is the
 * part's `vigil.evidence/1` header ('' for a snapshot sent whole, the legacy single message).
 */
export interface OutboxFilePart {
  kind: 'snapshot' | 'clip';
  path: string;
  /** The whole file's size and sha256 as recorded. */
  bytes: number;
  sha256: string;
  offset: number;
  length: number;
  index: number;
  count: number;
}

export interface OutboxStats {
  depth: number;
  /** created_at of the oldest row; null when the outbox is empty. */
  oldestCreatedAt: number | null;
  oldestAgeMs: number | null;
}

export interface EventQuery {
  stream?: string;
  /** Only events whose frame time is at or after this, ms since the epoch. */
  since?: number;
  limit?: number;
  /** Newest first by default. */
  order?: 'asc' | 'desc';
}

export interface OutboxPriorityStats {
  priority: number;
  depth: number;
  oldestAgeMs: number;
}

const count = z.number().int().min(0);
const isoTime = z.iso.datetime({ offset: true });

/** Events evicted before the hub acknowledged them, by severity. */
export const lostBySeveritySchema = z.strictObject({ info: count, warning: count, alert: count, critical: count });
export type LostBySeverity = z.infer<typeof lostBySeveritySchema>;

/**
 * What a storage event says; stored in the event's payload and sent as `vigil.storage/1`. The wire
 * schema in uplink/payloads.ts is built from these, so store and contract cannot drift apart.
 */
export const quarantineNoticeSchema = z.strictObject({
  kind: z.literal('quarantined'),
  /** The database path that could not be used. */
  file: z.string().min(1),
  /** Where the file (and its -wal/-shm) was moved; never deleted. */
  moved_to: z.array(z.string().min(1)),
  reason: z.string(),
});

export const evictionNoticeSchema = z.strictObject({
  kind: z.literal('evicted'),
  /** Events already acknowledged by the hub, removed from the device only. */
  delivered: count,
  /** Events removed before the hub acknowledged them: these the hub will never receive. */
  lost: lostBySeveritySchema,
  /** Frame times of the oldest and newest lost event; null when nothing undelivered was lost. */
  oldest_lost_ts: isoTime.nullable(),
  newest_lost_ts: isoTime.nullable(),
  /** Bytes in use in the database after eviction, and the configured budget. */
  db_bytes: count,
  budget_bytes: count,
  /** Totals since the daemon started. */
  total_delivered: count,
  total_lost: count,
  /**
   * Eviction runs this report covers. Reports never overlap: while a report has not been handed to
   * the broker, later runs are merged into it (its figures become their sums), so that the hub's sum
   * of `delivered` and `lost` over every report it receives is every event evicted. Absent (1) from
   * reports queued by vigild before 2026-12.
   */
  runs: z.number().int().min(1).default(1),
  /** Evidence JPEGs dropped from the outbox before the hub had them (their events were kept). */
  snapshots: count.default(0),
  /**
   * Evidence files (snapshots and clips) deleted to stay within evidence.max_mb and the disk
   * reserve, or because their event was evicted; of them, those the hub had not wholly received,
   * and their bytes. Absent (0) from reports of vigild before evidence files were tracked.
   */
  evidence_files: count.default(0),
  evidence_undelivered: count.default(0),
  evidence_bytes: count.default(0),
});

/**
 * An evidence file that is not sent because it no longer is what was recorded: its bytes do not
 * match the sha256 taken when it was written, its size changed, or it is gone. Checked before the
 * first part of it leaves (and by `vigilctl events show`); the hub will not receive this file.
 */
export const evidenceRefusedNoticeSchema = z.strictObject({
  kind: z.literal('evidence_refused'),
  /** The event the file belongs to. */
  event_id: z.string().min(1),
  file_kind: z.enum(['snapshot', 'clip']),
  /** File name on the device, `<event id>.jpg` / `<event id>.mp4`. */
  name: z.string().min(1),
  reason: z.enum(['sha256_mismatch', 'size_changed', 'missing', 'unreadable']),
  expected_sha256: z.string(),
  /** Null when the file could not be read. */
  actual_sha256: z.string().nullable(),
  expected_bytes: count,
  actual_bytes: count.nullable(),
});
export type EvidenceRefusedNotice = z.infer<typeof evidenceRefusedNoticeSchema>;

export const storageNoticeSchema = z.discriminatedUnion('kind', [quarantineNoticeSchema, evictionNoticeSchema, evidenceRefusedNoticeSchema]);
export type StorageNotice = z.infer<typeof storageNoticeSchema>;

/** The `kind` column of storage events; they are events so that they are stored, listed and sent alike. */
export const STORAGE_EVENT_KIND = 'storage';

export interface EvictionTotals {
  /** Enforcement runs that removed anything. */
  runs: number;
  delivered: number;
  lost: LostBySeverity;
  /** Frame time of the oldest lost event, ms; null while none was lost. */
  oldestLostTs: number | null;
  lastRunAt: number | null;
  /** Evidence JPEGs dropped from the outbox unsent. */
  snapshots: number;
  /** Evidence files deleted (evidence.max_mb, the disk reserve, their event evicted); those not wholly delivered; their bytes. */
  evidenceFiles?: number;
  evidenceUndelivered?: number;
  evidenceBytes?: number;
}

/** Where the bytes under `storage.dir` are, and the filesystem around them (store/disk-space.ts). */
export interface StorageDisk {
  /** Pages in use in the database (the budget's measure). */
  dbBytes: number;
  /** The -wal and -shm files. */
  walBytes: number;
  /** Evidence snapshot files. */
  evidenceBytes: number;
  /** The model store and the TensorRT engine cache. */
  modelBytes: number;
  /** The rest of `storage.dir` (ballast included). */
  otherBytes: number;
  /** Held ballast: given back to the filesystem when SQLite meets a full disk. */
  ballastBytes: number;
  /** Free space kept on the filesystem; below it the store frees space by policy. */
  reserveBytes: number;
  /** Free bytes on the filesystem of `storage.dir`, and its size; null where statfs fails. */
  fsFreeBytes: number | null;
  fsTotalBytes: number | null;
  /** Times the reserve could not be restored by the policy (something else fills the disk, or nothing is left to evict). */
  reserveShortfalls: number;
}

export interface StorageStatus {
  /** Bytes in pages holding data (free pages are reused before the file grows). */
  usedBytes: number;
  /** The main file as SQLite sees it (used + free pages); the -wal file comes on top. */
  fileBytes: number;
  /** null: no budget (vigilctl, tests). */
  budgetBytes: number | null;
  events: number;
  evictions: EvictionTotals;
  quarantine: { file: string; movedTo: string[]; reason: string; at: number } | null;
  /** The parts of the disk budget; absent for a store opened without `disk` (vigilctl, tests). */
  disk?: StorageDisk;
  /** The store writer's view (store-writer.ts): whether events are being stored; absent without one (vigilctl, tests). */
  health?: StorageHealth;
}

/** Degraded mode (docs/storage-faults.md): what the store writer reports in status, metrics and alarms. */
export interface StorageHealth {
  /** degraded: the database takes no writes; events are held in memory and sent directly. */
  state: 'ok' | 'degraded';
  reason: string | null;
  /** SQLite code or errno of the failure, e.g. SQLITE_READONLY, SQLITE_FULL, SQLITE_IOERR_WRITE. */
  code: string | null;
  /** When the current degraded spell began, ms since the epoch; null while ok. */
  since: number | null;
  /** Events (and their follow-ups) waiting in memory for the database. */
  held: number;
  heldBytes: number;
  /** Events given up by the held queue's bound before either the database or the broker had them, by severity. */
  lost: LostBySeverity;
  /** Events given up by the bound that the broker had acknowledged: delivered, never stored. */
  unstored: number;
  /** Held events written once the database took writes again, since start. */
  written: number;
  /** Degraded spells since start. */
  faults: number;
  /** Duration of the newest commit, ms, fsync included; null before the first. */
  lastCommitMs: number | null;
}
