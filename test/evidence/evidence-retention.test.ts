import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import type { Severity } from '../../daemon/config/schema.js';
import { EvidenceRetention } from '../../daemon/evidence/evidence-retention.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { migrate, migrations } from '../../daemon/store/migrations.js';
import { DATABASE_FILE } from '../../daemon/store/open.js';
import { evictionNoticeSchema } from '../../daemon/store/types.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { evidenceOutbox } from '../../daemon/uplink/evidence-message.js';
import { storageOutbox } from '../../daemon/uplink/storage-message.js';
import { tempDir } from '../helpers/shared.js';
import { newEvent } from '../store/store-fixtures.js';
import { captureLogger } from '../uplink/harness.js';

const device = { id: 'box-1', site: 'depot' };
const KiB = 1024;

test('eviction order: files of evicted events, then delivered, then by severity and age; each logged, counted and in the eviction report', async (t) => {
  const dir = await tempDir(t);
  const store = EventStore.open(dir, { notices: storageOutbox(device) });
  t.after(() => store.close());
  store.evidenceOutbox = evidenceOutbox(device, { publish: true });
  const { log, lines } = captureLogger('info');
  // name, severity, file age (created_at), delivered
  const plan: [string, Severity, number, boolean][] = [
    ['critical-oldest', 'critical', 1000, false], ['alert-delivered', 'alert', 2000, true], ['info-old', 'info', 3000, false],
    ['warning', 'warning', 4000, false], ['info-new', 'info', 5000, false], ['orphan', 'critical', 6000, false],
  ];
  const ids = new Map<string, string>();
  for (const [name, severity, createdAt, delivered] of plan) {
    const e = store.recordEvent(newEvent(createdAt, severity), alertOutbox(device));
    ids.set(name, e.id);
    const data = randomBytes(10 * KiB);
    const file = path.join(dir, 'evidence', `${e.id}.mp4`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, data);
    assert.ok(store.addEvidenceFile({ eventId: e.id, kind: 'clip', path: file, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex'),
      width: 640, height: 360, durationS: 3, createdAt }));
    // The hub has it whole: the broker acknowledged its parts.
    if (delivered) store.ackOutbox(store.peekOutbox(100).filter((r) => r.eventId === e.id).map((r) => r.seq));
  }
  assert.equal(store.evidenceFile(ids.get('alert-delivered')!, 'clip')?.deliveredBytes, 10 * KiB);
  // The orphan's event is evicted (as the disk budget does: its rows go, its file stays until pruned).
  store.db.prepare('DELETE FROM outbox WHERE event_id = ?').run(ids.get('orphan'));
  store.db.prepare('DELETE FROM events WHERE id = ?').run(ids.get('orphan'));

  // Room for two and a half files: down to the low-water mark (22.5 KiB) means two stay.
  const retention = new EvidenceRetention(store, 25 * KiB, log);
  retention.prune(true);
  const deleted = lines.filter((l) => /^evidence file deleted/.test(l.msg));
  const name = (id: unknown): string => [...ids].find(([, v]) => v === id)?.[0] ?? String(id);
  assert.deepEqual(deleted.map((l) => [name(l['event']), l['why']]), [
    ['orphan', 'its event was evicted'], ['alert-delivered', 'evidence.max_mb reached'], ['info-old', 'evidence.max_mb reached'],
    ['info-new', 'evidence.max_mb reached'],
  ]);
  assert.deepEqual(deleted.map((l) => l.level), [30, 30, 40, 40].map((n) => (n === 30 ? 'info' : 'warn')), 'undelivered files are warnings');
  for (const n of ['orphan', 'alert-delivered', 'info-old', 'info-new']) assert.equal(existsSync(path.join(dir, 'evidence', `${ids.get(n)}.mp4`)), false, n);
  for (const n of ['warning', 'critical-oldest']) assert.ok(store.evidenceFile(ids.get(n)!, 'clip'), n);
  assert.equal(store.peekOutbox(100).filter((r) => r.eventId === ids.get('info-old') && r.file).length, 0, 'the parts of a deleted file are not sent');
  assert.deepEqual(retention.stats, { evicted: 4, evictedBytes: 40 * KiB, evictedUndelivered: 3, orphans: 1 });

  // The disk short of its reserve: the rest, warning before critical.
  assert.equal(retention.free(15 * KiB), 20 * KiB);
  assert.deepEqual(lines.filter((l) => /^evidence file deleted/.test(l.msg)).slice(4).map((l) => name(l['event'])), ['warning', 'critical-oldest']);

  // Reported to the hub: one running report carries every file deleted.
  const reports = store.listEvents({ limit: 100 }).filter((e) => e.kind === 'storage').map((e) => evictionNoticeSchema.parse(e.payload['storage']));
  assert.equal(reports.length, 1);
  assert.deepEqual([reports[0]?.evidence_files, reports[0]?.evidence_undelivered, reports[0]?.evidence_bytes, reports[0]?.runs], [6, 5, 60 * KiB, 2]);
  assert.deepEqual([store.storageStatus().evictions.evidenceFiles, store.storageStatus().evictions.evidenceBytes], [6, 60 * KiB]);
  assert.equal(store.evidenceBytes(), 0);
});

test('migration 5: snapshots recorded before move into evidence_files, a queued JPEG still goes, and they are hashed once', async (t) => {
  const dir = await tempDir(t);
  const old = new BetterSqlite3(path.join(dir, DATABASE_FILE));
  migrate(old, migrations.filter((m) => m.version <= 4));
  const jpeg = (i: number): Buffer => Buffer.concat([Buffer.from([0xff, 0xd8]), randomBytes(1000 + i)]);
  const rows: { id: string; file: string; data: Buffer }[] = [];
  for (const i of [1, 2]) {
    const id = `0190e6d6-0000-7000-8000-00000000000${i}`;
    const file = path.join(dir, 'evidence', `${id}.jpg`);
    mkdirSync(path.dirname(file), { recursive: true });
    const data = jpeg(i);
    writeFileSync(file, data);
    old.prepare(`INSERT INTO events (id, ts, stream, rule, severity, kind, payload, created_at) VALUES (?, ?, 'gate', 'r', 'alert', 'presence', '{"objects":[]}', ?)`)
      .run(id, i, i);
    old.prepare('INSERT INTO snapshots (event_id, path, bytes, width, height, created_at) VALUES (?, ?, ?, 416, 234, ?)').run(id, file, data.length, i);
    rows.push({ id, file, data });
  }
  // The first one's JPEG is still queued; the second one's was sent.
  old.prepare(`INSERT INTO outbox (event_id, topic, payload, qos, priority, created_at, payload_blob) VALUES (?, 't/evidence', '', 1, 4, 1, ?)`)
    .run(rows[0]!.id, rows[0]!.data);
  old.close();

  const store = EventStore.open(dir);
  t.after(() => store.close());
  const [first, second] = rows.map((r) => store.evidenceFile(r.id, 'snapshot'));
  assert.deepEqual([first?.path, first?.bytes, first?.sha256, first?.deliveredBytes, first?.width], [rows[0]!.file, rows[0]!.data.length, '', 0, 416]);
  assert.deepEqual([second?.sha256, second?.deliveredBytes], ['', rows[1]!.data.length], 'sent before the upgrade: delivered');
  assert.deepEqual(store.snapshotOf(rows[1]!.id)?.path, rows[1]!.file);
  const queued = store.peekOutbox(10);
  assert.deepEqual(queued.map((r) => [r.eventId, r.blob?.length, r.file]), [[rows[0]!.id, rows[0]!.data.length, undefined]], 'the legacy row still sends its JPEG');
  const { log } = captureLogger('warn');
  assert.equal(await new EvidenceRetention(store, 1024 * KiB, log).hashLegacy(), 2);
  assert.equal(store.evidenceFile(rows[0]!.id, 'snapshot')?.sha256, createHash('sha256').update(rows[0]!.data).digest('hex'));
  assert.equal(store.unhashedEvidence().length, 0);
});
