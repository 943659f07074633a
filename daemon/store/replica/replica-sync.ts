import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { migrate } from '../migrations.js';
import type { EvidenceRow } from './replica-evidence.js';

/** The copy's name in `storage.replica.dir`: not `vigil.db`, so that nobody takes it for a live database. */
export const REPLICA_FILE = 'vigil-replica.db';

/**
 * The tables copied, with how a row is known. Events and outbox rows by their rowid (both grow at
 * the end: `rowid > watermark` finds the new ones without a scan); evidence files and reviews, a
 * few thousand rows at most, by comparing every row. event_timings are left out: samples of the
 * response tiers, not promises to the hub, and each event writes them up to five times.
 */
const TABLES = ['events', 'outbox', 'evidence_files', 'reviews'] as const;
type Table = (typeof TABLES)[number];

export interface RowCounts {
  events: number;
  outbox: number;
  evidence: number;
  reviews: number;
}

export interface CycleResult {
  /** Nothing was committed on the primary since the last cycle: nothing read, nothing written. */
  skipped: boolean;
  /** Every commit on the primary before `snapshotAt` is in the copy (false: a batch limit was hit, more to copy). */
  complete: boolean;
  /** When the primary was read (ms since the epoch). */
  snapshotAt: number;
  copied: RowCounts;
  removed: RowCounts;
  /** Evidence rows gone from the copy: their copied files go too. */
  evidenceGone: { eventId: string; kind: string; path: string }[];
  ms: number;
}

export interface ReplicaSyncOptions {
  /** Rows of events (and of outbox) copied per cycle at most, so one cycle of a first copy stays short. */
  batch?: number;
  /** Every this many ms, each event row is compared whole (payload merges without a message). */
  reconcileEveryMs?: number;
  now?: () => number;
}

/**
 * Copies the rows committed on the primary database into the replica file, incrementally.
 *
 * Why rows and not pages: SQLite's backup API copies the whole file each time (16 MiB to 1 GiB
 * here, every second); shipping WAL frames would need this process to own checkpoints, which the
 * store writer does. Rows are what we must not lose, and the new ones are found by rowid at the
 * cost of an index seek.
 *
 * Each cycle has two phases, so that a slow replica volume never holds a read snapshot on the
 * primary (which would keep checkpoints from resetting its WAL and break the WAL bound of the
 * disk budget): (1) one read transaction on the primary and the copy collects the changes into
 * temporary tables in memory; (2) one write transaction on the copy applies them and fsyncs.
 *
 * Only this connection writes the copy, so the copy itself is the watermark: its largest event
 * rowid and outbox seq say what was copied, and a restart resumes where it was.
 */
export class ReplicaSync {
  readonly file: string;
  private db: Database | null = null;
  private lastVersion = -1;
  private lastComplete = true;
  private lastReconcile = 0;
  private readonly batch: number;
  private readonly reconcileEveryMs: number;
  private readonly now: () => number;
  private stmts: Statements | null = null;
  /** A copy belonging to another database that was moved aside at open, if any. */
  replaced: string | null = null;

  constructor(private readonly primaryFile: string, replicaDir: string, options: ReplicaSyncOptions = {}) {
    this.file = path.join(replicaDir, REPLICA_FILE);
    this.batch = Math.max(1, options.batch ?? 2000);
    this.reconcileEveryMs = options.reconcileEveryMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  get isOpen(): boolean {
    return this.db !== null;
  }

  /** Opens (creating) the copy, brings its schema to the primary's, and attaches the primary read-only in use. */
  open(): void {
    if (this.db) return;
    const db = new BetterSqlite3(this.file);
    try {
      const mode: unknown = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw Object.assign(new Error(`cannot switch the replica to WAL (got ${String(mode)})`), { code: 'SQLITE_READONLY' });
      // FULL: the copy is what is left when the primary's card fails; its fsync costs this thread only.
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 2000');
      db.pragma('temp_store = MEMORY');
      migrate(db);
      // ATTACH creates a missing file: a primary that is not there must not be replaced by an empty one.
      if (!existsSync(this.primaryFile)) throw Object.assign(new Error(`the primary database ${this.primaryFile} does not exist`), { code: 'ENOENT' });
      db.prepare('ATTACH DATABASE ? AS p').run(this.primaryFile);
      this.stmts = prepare(db);
      this.db = db;
    } catch (err) {
      db.close();
      throw err;
    }
    if (this.foreign()) {
      // The copy holds events the primary never had: a primary started empty while the copy was
      // out of reach (card unmounted). Following the primary would delete them; they are kept aside.
      this.close();
      const stamp = new Date(this.now()).toISOString().replace(/[:.]/g, '-');
      const aside = path.join(path.dirname(this.file), `vigil-replica.other-${stamp}.db`);
      for (const suffix of ['', '-wal', '-shm']) {
        if (existsSync(this.file + suffix)) renameSync(this.file + suffix, aside + suffix);
      }
      this.replaced = aside;
      this.open();
    }
  }

  close(): void {
    const db = this.db;
    this.db = null;
    this.stmts = null;
    this.lastVersion = -1;
    try {
      db?.close();
    } catch {
      // A connection on a failed volume may not close cleanly; the next open starts afresh.
    }
  }

  /** One copy of what changed; throws when the copy's volume fails (the caller closes and retries later). */
  cycle(force = false): CycleResult {
    this.open();
    const db = this.db!;
    const s = this.stmts!;
    const started = performance.now();
    const snapshotAt = this.now();
    const none = (): RowCounts => ({ events: 0, outbox: 0, evidence: 0, reviews: 0 });
    const version = Number(s.dataVersion.get());
    const reconcile = snapshotAt - this.lastReconcile >= this.reconcileEveryMs;
    if (!force && !reconcile && this.lastComplete && version === this.lastVersion) {
      return { skipped: true, complete: true, snapshotAt, copied: none(), removed: none(), evidenceGone: [], ms: performance.now() - started };
    }

    // Phase 1: read both files in one snapshot, collect into memory.
    let complete = true;
    let sequence: number | null = null;
    db.transaction(() => {
      for (const t of TABLES) db.exec(`DELETE FROM temp.new_${t}; DELETE FROM temp.gone_${t};`);
      const wEv = Number(s.maxEventRowid.get() ?? 0);
      const wOb = Number(s.maxSeq.get() ?? 0);
      const evMoved = s.countPrimaryEvents.get(wEv) !== s.countEvents.get() || s.primaryIdAt.get(wEv) !== s.idAt.get(wEv);
      if (evMoved || reconcile) s.goneEvents.run();
      const newEvents = s.newEvents.run(wEv, this.batch).changes;
      s.reusedEvents.run();
      const obMoved = s.countPrimaryOutbox.get(wOb) !== s.countOutbox.get();
      if (obMoved || reconcile) s.goneOutbox.run();
      const newOutbox = s.newOutbox.run(wOb, this.batch).changes;
      // Events touched along with the outbox: a follow-up (merge and message), an acknowledgement (uplinked_at).
      s.touchedEvents.run();
      if (reconcile) s.changedEvents.run(wEv);
      s.newEvidence.run();
      s.goneEvidence.run();
      s.newReviews.run();
      s.goneReviews.run();
      sequence = (s.sequence.get() as number | undefined) ?? null;
      complete = newEvents < this.batch && newOutbox < this.batch;
    })();

    // Phase 2: apply, on the copy only.
    const copied = none();
    const removed = none();
    let evidenceGone: CycleResult['evidenceGone'] = [];
    db.transaction(() => {
      removed.outbox = s.applyGoneOutbox.run().changes;
      removed.events = s.applyGoneEvents.run().changes;
      copied.events = s.applyEvents.run().changes;
      copied.outbox = s.applyOutbox.run().changes;
      evidenceGone = (s.listGoneEvidence.all() as { event_id: string; kind: string; path: string }[])
        .map((r) => ({ eventId: r.event_id, kind: r.kind, path: r.path }));
      removed.evidence = s.applyGoneEvidence.run().changes;
      copied.evidence = s.applyEvidence.run().changes;
      removed.reviews = s.applyGoneReviews.run().changes;
      copied.reviews = s.applyReviews.run().changes;
      // The primary's outbox counter: a restored database must not hand out a seq the hub has seen.
      if (sequence !== null) {
        s.setSequence.run(sequence);
        s.addSequence.run(sequence);
      }
    }).immediate();

    this.lastVersion = version;
    this.lastComplete = complete;
    if (reconcile) this.lastReconcile = snapshotAt;
    return { skipped: false, complete, snapshotAt, copied, removed, evidenceGone, ms: performance.now() - started };
  }

  /** The copy's evidence rows with a known sha256, oldest first: what the evidence copier works from. */
  evidenceRows(): EvidenceRow[] {
    this.open();
    return this.db!.prepare(`SELECT event_id, kind, path, bytes, sha256 FROM main.evidence_files
      WHERE sha256 != '' ORDER BY created_at`).all() as EvidenceRow[];
  }

  /**
   * Whether the copy belongs to another database: it has events and the primary has none of its
   * newest sixteen. After an ordinary restart the primary has them all (the newest are evicted last).
   */
  private foreign(): boolean {
    const ids = this.db!.prepare('SELECT id FROM main.events ORDER BY rowid DESC LIMIT 16').pluck().all() as string[];
    if (ids.length === 0) return false;
    const has = this.db!.prepare('SELECT 1 FROM p.events WHERE id = ?').pluck();
    return !ids.some((id) => has.get(id) !== undefined);
  }
}

type Statements = ReturnType<typeof prepare>;

/** Column lists read from the copy's schema (the same migrations as the primary's), so a new column is copied without a change here. */
function prepare(db: Database) {
  const cols = (t: Table): string[] => (db.prepare(`SELECT name FROM pragma_table_info('${t}')`).pluck().all() as string[]);
  const list = (t: Table, prefix = ''): string => cols(t).map((c) => `${prefix}${c}`).join(', ');
  const same = (t: Table, a: string, b: string): string => cols(t).map((c) => `${a}.${c} IS ${b}.${c}`).join(' AND ');
  for (const t of TABLES) {
    const keyed = t === 'events' ? '_rid INTEGER PRIMARY KEY, ' : '';
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS new_${t} (${keyed}${cols(t).join(', ')})`);
  }
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS gone_events (rid INTEGER PRIMARY KEY);
    CREATE TEMP TABLE IF NOT EXISTS gone_outbox (seq INTEGER PRIMARY KEY, event_id);
    CREATE TEMP TABLE IF NOT EXISTS gone_evidence_files (event_id, kind, path);
    CREATE TEMP TABLE IF NOT EXISTS gone_reviews (event_id);`);
  const ev = list('events');
  const ob = list('outbox');
  const ef = list('evidence_files');
  const rv = list('reviews');
  const one = <P extends unknown[]>(sql: string): Statement<P, unknown> => db.prepare(sql).pluck() as Statement<P, unknown>;
  return {
    dataVersion: one<[]>('PRAGMA p.data_version'),
    maxEventRowid: one<[]>('SELECT max(rowid) FROM main.events'),
    maxSeq: one<[]>('SELECT max(seq) FROM main.outbox'),
    countEvents: one<[]>('SELECT count(*) FROM main.events'),
    // All rows less the new ones: count(*) of a whole table reads its smallest index, a rowid range
    // reads the table itself (100 ms at 100 000 events, against 7).
    countPrimaryEvents: one<[number]>('SELECT (SELECT count(*) FROM p.events) - (SELECT count(*) FROM p.events WHERE rowid > ?)'),
    idAt: one<[number]>('SELECT id FROM main.events WHERE rowid = ?'),
    primaryIdAt: one<[number]>('SELECT id FROM p.events WHERE rowid = ?'),
    countOutbox: one<[]>('SELECT count(*) FROM main.outbox'),
    countPrimaryOutbox: one<[number]>('SELECT (SELECT count(*) FROM p.outbox) - (SELECT count(*) FROM p.outbox WHERE seq > ?)'),
    sequence: one<[]>("SELECT seq FROM p.sqlite_sequence WHERE name = 'outbox'"),
    // Evicted events, and rowids the primary handed out again after its newest rows were evicted.
    goneEvents: db.prepare(`INSERT INTO temp.gone_events SELECT rowid FROM main.events re
      WHERE NOT EXISTS (SELECT 1 FROM p.events pe WHERE pe.rowid = re.rowid AND pe.id = re.id)`),
    newEvents: db.prepare<[number, number]>(`INSERT INTO temp.new_events (_rid, ${ev})
      SELECT rowid, ${ev} FROM p.events WHERE rowid > ? ORDER BY rowid LIMIT ?`),
    reusedEvents: db.prepare(`INSERT OR IGNORE INTO temp.new_events (_rid, ${ev})
      SELECT rowid, ${ev} FROM p.events WHERE rowid IN (SELECT rid FROM temp.gone_events)`),
    goneOutbox: db.prepare(`INSERT INTO temp.gone_outbox SELECT seq, event_id FROM main.outbox ro
      WHERE NOT EXISTS (SELECT 1 FROM p.outbox po WHERE po.seq = ro.seq)`),
    newOutbox: db.prepare<[number, number]>(`INSERT INTO temp.new_outbox (${ob}) SELECT ${ob} FROM p.outbox WHERE seq > ? ORDER BY seq LIMIT ?`),
    touchedEvents: db.prepare(`INSERT OR IGNORE INTO temp.new_events (_rid, ${ev}) SELECT rowid, ${ev} FROM p.events
      WHERE id IN (SELECT event_id FROM temp.new_outbox WHERE event_id IS NOT NULL
        UNION SELECT event_id FROM temp.gone_outbox WHERE event_id IS NOT NULL)`),
    changedEvents: db.prepare<[number]>(`INSERT OR IGNORE INTO temp.new_events (_rid, ${ev}) SELECT pe.rowid, ${list('events', 'pe.')}
      FROM p.events pe WHERE pe.rowid <= ? AND NOT EXISTS (SELECT 1 FROM main.events re WHERE re.rowid = pe.rowid AND ${same('events', 're', 'pe')})`),
    newEvidence: db.prepare(`INSERT INTO temp.new_evidence_files (${ef}) SELECT ${list('evidence_files', 'pf.')} FROM p.evidence_files pf
      WHERE NOT EXISTS (SELECT 1 FROM main.evidence_files rf WHERE rf.event_id = pf.event_id AND rf.kind = pf.kind AND ${same('evidence_files', 'rf', 'pf')})`),
    goneEvidence: db.prepare(`INSERT INTO temp.gone_evidence_files SELECT event_id, kind, path FROM main.evidence_files rf
      WHERE NOT EXISTS (SELECT 1 FROM p.evidence_files pf WHERE pf.event_id = rf.event_id AND pf.kind = rf.kind AND pf.path = rf.path)`),
    newReviews: db.prepare(`INSERT INTO temp.new_reviews (${rv}) SELECT ${list('reviews', 'pr.')} FROM p.reviews pr
      WHERE NOT EXISTS (SELECT 1 FROM main.reviews rr WHERE rr.event_id = pr.event_id AND ${same('reviews', 'rr', 'pr')})`),
    goneReviews: db.prepare(`INSERT INTO temp.gone_reviews SELECT event_id FROM main.reviews rr
      WHERE NOT EXISTS (SELECT 1 FROM p.reviews pr WHERE pr.event_id = rr.event_id)`),
    applyGoneOutbox: db.prepare('DELETE FROM main.outbox WHERE seq IN (SELECT seq FROM temp.gone_outbox)'),
    applyGoneEvents: db.prepare('DELETE FROM main.events WHERE rowid IN (SELECT rid FROM temp.gone_events)'),
    // OR REPLACE: a row of the same rowid (changed) or the same id (another rowid, after a restore) is replaced.
    applyEvents: db.prepare(`INSERT OR REPLACE INTO main.events (rowid, ${ev}) SELECT _rid, ${ev} FROM temp.new_events`),
    applyOutbox: db.prepare(`INSERT OR REPLACE INTO main.outbox (${ob}) SELECT ${ob} FROM temp.new_outbox`),
    listGoneEvidence: db.prepare('SELECT event_id, kind, path FROM temp.gone_evidence_files'),
    applyGoneEvidence: db.prepare(`DELETE FROM main.evidence_files WHERE (event_id, kind, path) IN
      (SELECT event_id, kind, path FROM temp.gone_evidence_files)`),
    applyEvidence: db.prepare(`INSERT OR REPLACE INTO main.evidence_files (${ef}) SELECT ${ef} FROM temp.new_evidence_files`),
    applyGoneReviews: db.prepare('DELETE FROM main.reviews WHERE event_id IN (SELECT event_id FROM temp.gone_reviews)'),
    applyReviews: db.prepare(`INSERT OR REPLACE INTO main.reviews (${rv}) SELECT ${rv} FROM temp.new_reviews`),
    setSequence: db.prepare<[number]>("UPDATE main.sqlite_sequence SET seq = max(seq, ?) WHERE name = 'outbox'"),
    addSequence: db.prepare<[number]>("INSERT INTO main.sqlite_sequence (name, seq) SELECT 'outbox', ? WHERE NOT EXISTS (SELECT 1 FROM main.sqlite_sequence WHERE name = 'outbox')"),
  };
}
