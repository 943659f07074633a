import path from 'node:path';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import type { ReplicaRow } from './peer-replica-protocol.js';

/** The file name of the copy of one peer's outbox, in this device's storage.dir. */
export const peerCopyFile = (peer: string): string => `peer-replica-${peer}.db`;

/** Relayed rows are kept this long, so that a late resend of the same row is recognised, then dropped. */
const RELAYED_KEEP_MS = 24 * 3600_000;

export interface PendingRow extends ReplicaRow {
  source: string;
}

/**
 * The standby's copy of its peer's undelivered outbox rows: one SQLite file per peer, in this
 * device's own state directory, committed before the sender is told (see the constructor for how
 * durably).
 *
 * Only what the hub has not acknowledged is kept: a row the peer reports gone (delivered,
 * superseded or evicted there) is deleted here. A source is one database of the peer; its
 * watermark (the largest seq stored) is where a reconnecting sender resumes.
 */
export class PeerCopy {
  readonly db: Database;
  private readonly insert: Statement<[string, number, string, string, string, number, number, number]>;
  private readonly remove: Statement<[string, number]>;
  private readonly setMark: Statement<[string, number, number]>;
  private readonly mark: Statement<[string], number>;
  private readonly pendingOf: Statement<[string], number>;

  constructor(dir: string, peer: string) {
    this.db = new BetterSqlite3(path.join(dir, peerCopyFile(peer)));
    this.db.pragma('journal_mode = WAL');
    // NORMAL, with a checkpoint at most every second (sync): an fsync per batch blocked the
    // standby's event loop 40 % of the time at 100 events/s (4 ms each on the development VM).
    // A commit survives a crash of vigild at once and a power cut of this device within a second;
    // one lost to a power cut is sent again by the peer, which resumes from this file's watermark.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS rows (
        source     TEXT NOT NULL,
        seq        INTEGER NOT NULL,
        event_id   TEXT NOT NULL,
        topic      TEXT NOT NULL,
        payload    TEXT NOT NULL,
        qos        INTEGER NOT NULL,
        priority   INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        relayed_at INTEGER,            -- when this device queued it for the hub at a takeover
        PRIMARY KEY (source, seq)
      ) STRICT, WITHOUT ROWID;
      -- status() counts held and relayed rows every 200 ms: a full scan of 100 000 held rows took
      -- 17-22 ms of the main thread, the index brings it under 2 ms.
      CREATE INDEX IF NOT EXISTS rows_relayed ON rows (relayed_at);
      CREATE TABLE IF NOT EXISTS sources (
        source     TEXT PRIMARY KEY,
        upto       INTEGER NOT NULL,   -- every row of the source up to here was received
        updated_at INTEGER NOT NULL
      ) STRICT;
    `);
    this.insert = this.db.prepare(`INSERT OR IGNORE INTO rows (source, seq, event_id, topic, payload, qos, priority, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.remove = this.db.prepare('DELETE FROM rows WHERE source = ? AND seq = ? AND relayed_at IS NULL');
    this.setMark = this.db.prepare(`INSERT INTO sources (source, upto, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (source) DO UPDATE SET upto = max(upto, excluded.upto), updated_at = excluded.updated_at`);
    this.mark = this.db.prepare<[string], number>('SELECT upto FROM sources WHERE source = ?').pluck();
    this.pendingOf = this.db.prepare<[string], number>('SELECT seq FROM rows WHERE source = ? AND relayed_at IS NULL ORDER BY seq').pluck();
  }

  private dirty = false;
  private countStmt: Statement | undefined;

  /** Makes the commits since the last call durable against a power cut (a checkpoint fsyncs the WAL). */
  sync(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  /** Where a sender of `source` resumes. */
  watermark(source: string): number {
    return this.mark.get(source) ?? 0;
  }

  /** The source's rows held as undelivered, in seq order. */
  pending(source: string): number[] {
    return this.pendingOf.all(source);
  }

  /**
   * The sender's database went back to before rows this copy holds (restored from an older local
   * copy): its seqs will be handed out again for other rows. The rows held are kept, under a
   * source name of their own, and the source starts again from nothing.
   */
  rewind(source: string, now: number): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE rows SET source = ? WHERE source = ?').run(`${source}-before-${now}`, source);
      this.db.prepare('DELETE FROM sources WHERE source = ?').run(source);
    })();
  }

  /** Stores a batch and moves the watermark, in one durable transaction. */
  apply(source: string, rows: readonly ReplicaRow[], upto: number, now: number): void {
    this.db.transaction(() => {
      for (const r of rows) this.insert.run(source, r.seq, r.event_id, r.topic, r.payload, r.qos, r.priority, r.created_at);
      this.setMark.run(source, upto, now);
    })();
    this.dirty = true;
  }

  /** Rows the sender no longer holds: nothing to relay for them. */
  gone(source: string, seqs: readonly number[]): void {
    this.db.transaction(() => {
      for (const s of seqs) this.remove.run(source, s);
    })();
    this.dirty = true;
  }

  /** Every source's undelivered rows not yet relayed, oldest first. */
  toRelay(): PendingRow[] {
    return this.db.prepare(`SELECT source, seq, event_id, topic, payload, qos, priority, created_at FROM rows
      WHERE relayed_at IS NULL ORDER BY created_at, seq`).all() as PendingRow[];
  }

  markRelayed(rows: readonly PendingRow[], now: number): void {
    const stmt = this.db.prepare('UPDATE rows SET relayed_at = ? WHERE source = ? AND seq = ?');
    this.db.transaction(() => {
      for (const r of rows) stmt.run(now, r.source, r.seq);
      this.db.prepare('DELETE FROM rows WHERE relayed_at IS NOT NULL AND relayed_at < ?').run(now - RELAYED_KEEP_MS);
    })();
  }

  counts(): { pending: number; relayed: number } {
    this.countStmt ??= this.db.prepare(`SELECT (SELECT count(*) FROM rows WHERE relayed_at IS NULL) AS pending,
      (SELECT count(*) FROM rows WHERE relayed_at IS NOT NULL) AS relayed`);
    return this.countStmt.get() as { pending: number; relayed: number };
  }

  close(): void {
    this.db.close();
  }
}
