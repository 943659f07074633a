import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { FEATURE_DIM } from './features.js';

/**
 * learning.db: everything federated learning keeps on the device, apart from the event store so
 * that neither schema waits on the other. Feature vectors (never crops), the current global and
 * local models, what each round sent and the privacy it spent, and the verifier's scores.
 */

export interface RoundRecord {
  round: number;
  sentAt: number;
  samples: number;
  deltaNorm: number;
  clipped: boolean;
  /** Noise multiplier z (σ = z·C); 0 without differential privacy. */
  noiseMultiplier: number;
  updateId: string;
}

export interface StoredModel {
  round: number;
  weights: Float64Array;
  participants: number;
  /** The signed message as received, so a restart can re-verify rather than trust the row. */
  raw: string | null;
}

export interface ScoreRow {
  eventId: string;
  round: number;
  p: number;
  suppressed: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS features (
  event_id TEXT PRIMARY KEY,
  ts INTEGER NOT NULL,
  vec BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS features_ts ON features(ts);
CREATE TABLE IF NOT EXISTS models (
  kind TEXT PRIMARY KEY CHECK (kind IN ('global', 'local')),
  round INTEGER NOT NULL,
  participants INTEGER NOT NULL,
  weights BLOB NOT NULL,
  raw TEXT,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
  round INTEGER PRIMARY KEY,
  sent_at INTEGER NOT NULL,
  samples INTEGER NOT NULL,
  delta_norm REAL NOT NULL,
  clipped INTEGER NOT NULL,
  noise_multiplier REAL NOT NULL,
  update_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
  event_id TEXT PRIMARY KEY,
  round INTEGER NOT NULL,
  p REAL NOT NULL,
  suppressed INTEGER NOT NULL,
  ts INTEGER NOT NULL
) WITHOUT ROWID;
`;

const toBlob = (v: ArrayLike<number>, as: 'f32' | 'f64'): Buffer => {
  const a = as === 'f32' ? Float32Array.from(v) : Float64Array.from(v);
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
};

export class LearningStore {
  private constructor(readonly db: Database) {}

  static open(dir: string, file = 'learning.db'): LearningStore {
    mkdirSync(dir, { recursive: true });
    const db = new BetterSqlite3(path.join(dir, file));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 2000');
    db.exec(SCHEMA);
    return new LearningStore(db);
  }

  putFeatures(eventId: string, ts: number, vec: ArrayLike<number>): void {
    if (vec.length !== FEATURE_DIM) throw new Error(`feature vector of event ${eventId} has ${vec.length} values, expected ${FEATURE_DIM}`);
    this.db.prepare('INSERT OR REPLACE INTO features (event_id, ts, vec) VALUES (?, ?, ?)').run(eventId, ts, toBlob(vec, 'f32'));
  }

  /** Inserts many in one transaction (the simulation, an import). */
  putManyFeatures(rows: readonly { eventId: string; ts: number; vec: ArrayLike<number> }[]): void {
    this.db.transaction(() => { for (const r of rows) this.putFeatures(r.eventId, r.ts, r.vec); })();
  }

  getFeatures(eventId: string): Float32Array | undefined {
    const row = this.db.prepare<[string], { vec: Buffer }>('SELECT vec FROM features WHERE event_id = ?').get(eventId);
    return row ? new Float32Array(row.vec.buffer.slice(row.vec.byteOffset, row.vec.byteOffset + row.vec.byteLength)) : undefined;
  }

  /** The newest `limit` feature vectors among these event ids (the labelled ones). */
  featuresFor(eventIds: readonly string[], limit: number): { eventId: string; ts: number; vec: Float32Array }[] {
    const stmt = this.db.prepare<[string], { ts: number; vec: Buffer }>('SELECT ts, vec FROM features WHERE event_id = ?');
    const out: { eventId: string; ts: number; vec: Float32Array }[] = [];
    for (const id of eventIds) {
      const row = stmt.get(id);
      if (row) out.push({ eventId: id, ts: row.ts, vec: new Float32Array(row.vec.buffer.slice(row.vec.byteOffset, row.vec.byteOffset + row.vec.byteLength)) });
    }
    out.sort((a, b) => b.ts - a.ts);
    return out.slice(0, limit);
  }

  featureCount(): number {
    return this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM features').get()?.n ?? 0;
  }

  /** Drops features older than `beforeTs`: the store stays bounded on a device that runs for months. */
  pruneFeatures(beforeTs: number): number {
    return this.db.prepare('DELETE FROM features WHERE ts < ?').run(beforeTs).changes;
  }

  saveModel(kind: 'global' | 'local', m: StoredModel): void {
    this.db.prepare('INSERT OR REPLACE INTO models (kind, round, participants, weights, raw, updated_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(kind, m.round, m.participants, toBlob(m.weights, 'f64'), m.raw, Date.now());
  }

  loadModel(kind: 'global' | 'local'): StoredModel | undefined {
    const row = this.db.prepare<[string], { round: number; participants: number; weights: Buffer; raw: string | null }>(
      'SELECT round, participants, weights, raw FROM models WHERE kind = ?').get(kind);
    if (!row) return undefined;
    const w = new Float64Array(row.weights.buffer.slice(row.weights.byteOffset, row.weights.byteOffset + row.weights.byteLength));
    return { round: row.round, participants: row.participants, weights: w, raw: row.raw };
  }

  recordRound(r: RoundRecord): void {
    this.db.prepare('INSERT OR REPLACE INTO rounds (round, sent_at, samples, delta_norm, clipped, noise_multiplier, update_id) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(r.round, r.sentAt, r.samples, r.deltaNorm, r.clipped ? 1 : 0, r.noiseMultiplier, r.updateId);
  }

  rounds(): RoundRecord[] {
    return this.db.prepare<[], { round: number; sent_at: number; samples: number; delta_norm: number; clipped: number; noise_multiplier: number; update_id: string }>(
      'SELECT * FROM rounds ORDER BY round').all().map((r) => ({
      round: r.round, sentAt: r.sent_at, samples: r.samples, deltaNorm: r.delta_norm, clipped: r.clipped === 1,
      noiseMultiplier: r.noise_multiplier, updateId: r.update_id,
    }));
  }

  hasRound(round: number): boolean {
    return this.db.prepare<[number], { n: number }>('SELECT count(*) AS n FROM rounds WHERE round = ?').get(round)?.n === 1;
  }

  recordScore(s: ScoreRow): void {
    this.db.prepare('INSERT OR REPLACE INTO scores (event_id, round, p, suppressed, ts) VALUES (?, ?, ?, ?, ?)')
      .run(s.eventId, s.round, s.p, s.suppressed ? 1 : 0, Date.now());
  }

  getScore(eventId: string): ScoreRow | undefined {
    const r = this.db.prepare<[string], { round: number; p: number; suppressed: number }>('SELECT round, p, suppressed FROM scores WHERE event_id = ?').get(eventId);
    return r ? { eventId, round: r.round, p: r.p, suppressed: r.suppressed === 1 } : undefined;
  }

  suppressedCount(): number {
    return this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM scores WHERE suppressed = 1').get()?.n ?? 0;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
