import type { Database, Statement } from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { severitySchema } from '../config/schema.js';
import { openDatabase, type OpenOptions } from './open.js';
import {
  eventPayloadSchema, type EventQuery, type NewEvent, type OutboxMessage, type OutboxRow, type OutboxStats,
  type StoredEvent,
} from './types.js';

interface EventRow {
  id: string; ts: number; stream: string; rule: string; severity: string; kind: string;
  payload: string; created_at: number; uplinked_at: number | null;
}

interface OutboxDbRow {
  seq: number; event_id: string | null; topic: string; payload: string; qos: number; priority: number;
  created_at: number; attempts: number;
}

export interface EventStoreOptions extends OpenOptions {
  /** Injected so that tests can control ages; ms since the epoch. */
  now?: () => number;
}

/** Builds the outbox message for an event once its id is known; undefined keeps the event local. */
export type ToOutbox = (event: StoredEvent) => OutboxMessage | undefined;

const EVENT_COLUMNS = 'id, ts, stream, rule, severity, kind, payload, created_at, uplinked_at';
const MAX_LIST = 10_000;

/**
 * Events and the outbox, in one SQLite file. An event is accepted when `recordEvent` returns: the
 * event and its outbox message committed together, so the uplink can never send an event that is
 * not stored, nor lose one that is.
 */
export class EventStore {
  private readonly now: () => number;
  private readonly insertEvent: Statement<[string, number, string, string, string, string, string, number]>;
  private readonly insertOutbox: Statement<[string | null, string, string, number, number, number]>;
  private readonly peek: Statement<[string, number], OutboxDbRow>;
  private readonly deleteRow: Statement<[number], { event_id: string | null }>;
  private readonly markUplinked: Statement<[number, string]>;
  private readonly bumpAttempts: Statement<[number]>;
  private readonly stats: Statement<[], { depth: number; oldest: number | null }>;
  private readonly byId: Statement<[string], EventRow>;
  private readonly lists = new Map<string, Statement<unknown[], EventRow>>();
  private readonly record: (event: NewEvent, toOutbox?: ToOutbox) => StoredEvent;
  private readonly ack: (seq: number) => boolean;

  static open(dir: string, options: EventStoreOptions = {}): EventStore {
    return new EventStore(openDatabase(dir, options), options);
  }

  /** `db` stays public so that later tables (snapshots, labels) can share the one connection. */
  constructor(readonly db: Database, options: EventStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.insertEvent = db.prepare(`INSERT INTO events (id, ts, stream, rule, severity, kind, payload, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertOutbox = db.prepare(`INSERT INTO outbox (event_id, topic, payload, qos, priority, created_at)
      VALUES (?, ?, ?, ?, ?, ?)`);
    // The in-flight seqs arrive as one JSON array so that a single prepared statement serves any
    // window size; json_each over a few hundred numbers is far cheaper than re-preparing.
    this.peek = db.prepare(`SELECT seq, event_id, topic, payload, qos, priority, created_at, attempts
      FROM outbox WHERE seq NOT IN (SELECT value FROM json_each(?))
      ORDER BY priority, seq LIMIT ?`);
    this.deleteRow = db.prepare('DELETE FROM outbox WHERE seq = ? RETURNING event_id');
    this.markUplinked = db.prepare('UPDATE events SET uplinked_at = ? WHERE id = ? AND uplinked_at IS NULL');
    this.bumpAttempts = db.prepare('UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?');
    this.stats = db.prepare('SELECT count(*) AS depth, min(created_at) AS oldest FROM outbox');
    this.byId = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE id = ?`);

    this.record = db.transaction((event: NewEvent, toOutbox?: ToOutbox): StoredEvent => {
      const stored: StoredEvent = { ...event, id: uuidv7(), createdAt: this.now(), uplinkedAt: null };
      this.insertEvent.run(stored.id, stored.ts, stored.stream, stored.rule, stored.severity, stored.kind,
        JSON.stringify(stored.payload), stored.createdAt);
      const message = toOutbox?.(stored);
      if (message) {
        this.insertOutbox.run(stored.id, message.topic, message.payload, message.qos, message.priority, stored.createdAt);
      }
      return stored;
    });
    this.ack = db.transaction((seq: number): boolean => {
      const row = this.deleteRow.get(seq);
      if (!row) return false;
      if (row.event_id !== null) this.markUplinked.run(this.now(), row.event_id);
      return true;
    });
  }

  /**
   * Stores the event and, when `toOutbox` returns a message, its outbox row, in one transaction:
   * if either insert (or `toOutbox` itself) throws, neither is kept.
   */
  recordEvent(event: NewEvent, toOutbox?: ToOutbox): StoredEvent {
    return this.record(event, toOutbox);
  }

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

  /** The next rows to send, most urgent first, skipping those already awaiting a PUBACK. */
  peekOutbox(limit: number, exclude: Iterable<number> = []): OutboxRow[] {
    if (limit <= 0) return [];
    return this.peek.all(JSON.stringify([...exclude]), limit).map(toOutboxRow);
  }

  /** Removes a row once the broker has acknowledged it; false when it was already gone. */
  deleteOutbox(seq: number): boolean {
    return this.ack(seq);
  }

  /** Counts a hand-over to the MQTT client, so that a message that never gets through stands out. */
  markAttempt(seq: number): void {
    this.bumpAttempts.run(seq);
  }

  outboxStats(): OutboxStats {
    const row = this.stats.get();
    const depth = row?.depth ?? 0;
    const oldest = row?.oldest ?? null;
    return { depth, oldestCreatedAt: oldest, oldestAgeMs: oldest === null ? null : Math.max(0, this.now() - oldest) };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
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

function toOutboxRow(row: OutboxDbRow): OutboxRow {
  return {
    seq: row.seq,
    eventId: row.event_id,
    topic: row.topic,
    payload: row.payload,
    qos: row.qos === 0 ? 0 : 1,
    priority: row.priority,
    createdAt: row.created_at,
    attempts: row.attempts,
  };
}
