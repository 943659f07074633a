import type { Database } from 'better-sqlite3';

/**
 * The schema history. Append only: a migration that has shipped is never edited, because devices in
 * the field have already run it. `user_version` records how many have been applied.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'events and outbox',
    sql: `
      CREATE TABLE events (
        id          TEXT PRIMARY KEY,          -- uuid v7: unique across devices, sorts by creation
        ts          INTEGER NOT NULL,          -- frame time, ms since the epoch
        stream      TEXT NOT NULL,
        rule        TEXT NOT NULL,
        severity    TEXT NOT NULL,
        kind        TEXT NOT NULL,
        payload     TEXT NOT NULL CHECK (json_valid(payload)),
        created_at  INTEGER NOT NULL,
        uplinked_at INTEGER                    -- when the broker acknowledged its outbox message
      ) STRICT;
      CREATE INDEX events_stream_ts ON events (stream, ts);
      CREATE INDEX events_ts ON events (ts);

      CREATE TABLE outbox (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: a deleted seq is never reused,
                                                      -- so a late PUBACK cannot delete a newer row
        event_id   TEXT REFERENCES events (id),       -- null for messages that are not events
        topic      TEXT NOT NULL,
        payload    TEXT NOT NULL,
        qos        INTEGER NOT NULL CHECK (qos IN (0, 1)),
        priority   INTEGER NOT NULL,                   -- lower goes first
        created_at INTEGER NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE INDEX outbox_order ON outbox (priority, seq);
      CREATE INDEX outbox_event ON outbox (event_id);
    `,
  },
  {
    version: 2,
    description: 'indexes for eviction under the disk budget',
    // Partial indexes: eviction asks for the oldest delivered events, and for the oldest pending
    // events of one severity; without these, finding the few info rows behind 100 000 alerts
    // would scan the whole table while the event path waits.
    sql: `
      CREATE INDEX events_delivered ON events (created_at) WHERE uplinked_at IS NOT NULL;
      CREATE INDEX events_pending ON events (severity, created_at) WHERE uplinked_at IS NULL;
    `,
  },
  {
    version: 3,
    description: 'response-tier timings, evidence snapshots, review labels, binary outbox payloads',
    // Timings and reviews go with their event (ON DELETE CASCADE: eviction needs no extra step).
    // Snapshots have no foreign key on purpose: the row must outlive an evicted event long enough
    // for its file to be found and deleted (EventStore.pruneSnapshots). payload_blob carries binary
    // messages (evidence JPEGs); payload stays TEXT, '' for those rows.
    sql: `
      CREATE TABLE event_timings (
        event_id     TEXT PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
        inferred_at  REAL,   -- wall clock, ms since the epoch (fractional): the frame's inference finished
        committed_at REAL,   -- the event's transaction committed
        action_at    REAL,   -- tier 1: every local action for it was done (published / started)
        puback_at    REAL,   -- tier 2: the broker acknowledged its first message
        evidence_at  REAL    -- tier 3: its snapshot was stored and queued
      ) STRICT;

      CREATE TABLE reviews (
        event_id TEXT PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
        verdict  TEXT NOT NULL CHECK (verdict IN ('true_alarm', 'false_alarm')),
        note     TEXT,
        source   TEXT NOT NULL,    -- who: 'vigilctl:<user>', 'hub:<client>'
        ts       INTEGER NOT NULL  -- when, ms since the epoch
      ) STRICT;

      CREATE TABLE snapshots (
        event_id   TEXT PRIMARY KEY,
        path       TEXT NOT NULL,
        bytes      INTEGER NOT NULL,
        width      INTEGER NOT NULL,
        height     INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;

      ALTER TABLE outbox ADD COLUMN payload_blob BLOB;
    `,
  },
  {
    version: 4,
    description: 'typed event facts: rule events keep their kind\'s facts under payload.facts',
    // Before, a rule's facts lay loose in the payload and `activity` held the rule's verb (enter,
    // crossing, count). Each row gets `facts` as events/event-kinds.ts defines them (the verb
    // becomes `trigger`, a periodic count `periodic`, still_s `stationary_s`) and loses the loose
    // fields; json_patch drops the keys a row lacks (a null in a patch removes). Then the alert
    // messages still queued get `kind`, the facts and `phase`, so what was recorded before the
    // upgrade goes out in the same shape as what is recorded after it. Model, storage and audit
    // events are untouched: their facts already had their own fields.
    sql: `
      UPDATE events SET payload = json_set(
        json_remove(payload, '$.activity', '$.track_id', '$.direction', '$.count', '$.dwell_s', '$.inside_s', '$.still_s'),
        '$.facts', json(CASE kind
          WHEN 'zone' THEN json_patch(json_object('kind', 'zone'), json_object(
            'trigger', json_extract(payload, '$.activity'), 'track_id', json_extract(payload, '$.track_id'),
            'dwell_s', json_extract(payload, '$.dwell_s'), 'inside_s', json_extract(payload, '$.inside_s'),
            'count', json_extract(payload, '$.count')))
          WHEN 'line' THEN json_patch(json_object('kind', 'line'), json_object(
            'direction', json_extract(payload, '$.direction'), 'track_id', json_extract(payload, '$.track_id')))
          WHEN 'count' THEN json_patch(json_object('kind', 'count'), json_object(
            'trigger', CASE json_extract(payload, '$.activity') WHEN 'count' THEN 'periodic' ELSE json_extract(payload, '$.activity') END,
            'count', json_extract(payload, '$.count')))
          WHEN 'stationary' THEN json_patch(json_object('kind', 'stationary'), json_object(
            'track_id', json_extract(payload, '$.track_id'), 'stationary_s', json_extract(payload, '$.still_s')))
          ELSE json_object('kind', kind) END))
      WHERE kind IN ('presence', 'zone', 'line', 'count', 'stationary', 'motion', 'test')
        AND json_type(payload, '$.facts') IS NULL;

      UPDATE outbox SET payload = json_patch(payload, json_patch(
          (SELECT json_extract(e.payload, '$.facts') FROM events e WHERE e.id = outbox.event_id),
          json_object('phase', json_extract(payload, '$.activity'))))
      WHERE payload_blob IS NULL AND json_valid(payload)
        AND json_extract(payload, '$.schema') = 'vigil.alert/1'
        AND json_type(payload, '$.kind') IS NULL
        AND (SELECT json_type(e.payload, '$.facts') FROM events e WHERE e.id = outbox.event_id) = 'object';
    `,
  },
  {
    version: 5,
    description: 'evidence files (snapshots and clips) with size, sha256 and delivery; outbox rows that send a part of a file',
    // One table for every evidence file, replacing `snapshots` (its rows move over; their sha256 is
    // '' until the evidence service hashes them at the next start). No foreign key, as for
    // snapshots: the row outlives an evicted event until its file is deleted. An outbox row with
    // evidence_kind set sends bytes [offset, offset + length) of the file (event_id, kind), read at
    // publish time: the bytes are never copied into SQLite. A legacy snapshot whose JPEG is still
    // queued as a blob is undelivered; one whose blob is gone counts as delivered (it was sent, or
    // publishing was off, which the database cannot tell apart).
    sql: `
      CREATE TABLE evidence_files (
        event_id        TEXT NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('snapshot', 'clip')),
        path            TEXT NOT NULL,
        bytes           INTEGER NOT NULL,
        sha256          TEXT NOT NULL,
        width           INTEGER NOT NULL,
        height          INTEGER NOT NULL,
        duration_s      REAL,
        started_at      INTEGER,
        truncated       TEXT,
        created_at      INTEGER NOT NULL,
        delivered_bytes INTEGER NOT NULL DEFAULT 0,  -- bytes of it the broker acknowledged
        refused         TEXT,                        -- why it is not sent (sha256 mismatch, missing); null: fine
        PRIMARY KEY (event_id, kind)
      ) STRICT;
      CREATE INDEX evidence_files_created ON evidence_files (created_at);

      INSERT INTO evidence_files (event_id, kind, path, bytes, sha256, width, height, created_at, delivered_bytes)
        SELECT event_id, 'snapshot', path, bytes, '', width, height, created_at,
          CASE WHEN EXISTS (SELECT 1 FROM outbox WHERE outbox.event_id = snapshots.event_id AND outbox.payload_blob IS NOT NULL)
            THEN 0 ELSE bytes END
        FROM snapshots;
      DROP TABLE snapshots;

      ALTER TABLE outbox ADD COLUMN evidence_kind TEXT;
      ALTER TABLE outbox ADD COLUMN evidence_offset INTEGER;
      ALTER TABLE outbox ADD COLUMN evidence_length INTEGER;
      ALTER TABLE outbox ADD COLUMN evidence_index INTEGER;
      ALTER TABLE outbox ADD COLUMN evidence_count INTEGER;
    `,
  },
];

export const latestVersion = migrations.reduce((v, m) => Math.max(v, m.version), 0);

/** Thrown before anything is written when the file's schema is newer than this build knows. */
export class NewerSchemaError extends Error {
  constructor(readonly found: number, readonly supported: number) {
    super(`schema version ${found} is newer than this vigild supports (${supported}); ` +
      'it was written by a newer vigild, refusing to open it rather than risk damaging it');
  }
}

/** Applies every migration above the file's `user_version`, each in its own transaction. */
export function migrate(db: Database, list: readonly Migration[] = migrations): number {
  const current = userVersion(db);
  const supported = list.reduce((v, m) => Math.max(v, m.version), 0);
  if (current > supported) throw new NewerSchemaError(current, supported);
  const pending = [...list].filter((m) => m.version > current).sort((a, b) => a.version - b.version);
  for (const m of pending) {
    // user_version lives in the file header and is covered by the transaction, so a crash midway
    // leaves both the tables and the version as they were before this migration.
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return userVersion(db);
}

export function userVersion(db: Database): number {
  const v: unknown = db.pragma('user_version', { simple: true });
  if (typeof v !== 'number') throw new Error(`unexpected user_version ${String(v)}`);
  return v;
}
