import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { StoreError } from '../../daemon/store/errors.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { latestVersion } from '../../daemon/store/migrations.js';
import { DATABASE_FILE } from '../../daemon/store/open.js';
import { storageNoticeSchema } from '../../daemon/store/types.js';
import { tempDir } from '../helpers/shared.js';
import { newEvent, noticeOutbox, toOutbox } from './store-fixtures.js';

const NOW = Date.parse('2025-07-08T09:10:11.123Z');

/** A real database with `n` events, closed cleanly (its WAL checkpointed into the main file). */
function populate(dir: string, n: number): string[] {
  const store = EventStore.open(dir);
  const ids = store.recordEvents(Array.from({ length: n }, (_, i) => newEvent(i)), toOutbox).map((e) => e.id);
  store.close();
  return ids;
}

function openRecovering(dir: string): EventStore {
  return EventStore.open(dir, { recover: true, notices: noticeOutbox, now: () => NOW });
}

/** Asserts the quarantine happened and was reported, and that the new database works. */
function assertRecovered(store: EventStore, dir: string, original: Buffer): void {
  const q = store.quarantine;
  assert.ok(q, 'the file was quarantined');
  assert.equal(q.file, path.join(dir, DATABASE_FILE));
  const stamp = '2025-07-08T09-10-11-123Z';
  assert.equal(q.movedTo[0], path.join(dir, `vigil.corrupt-${stamp}.db`));
  assert.deepEqual(readFileSync(q.movedTo[0] ?? ''), original, 'moved, byte for byte, never deleted');
  assert.equal(q.at, NOW);

  // The report is an event of its own, with its outbox row, in the fresh database.
  const [notice] = store.listEvents();
  assert.ok(notice);
  assert.equal(notice.severity, 'critical');
  assert.equal(notice.kind, 'storage');
  const detail = storageNoticeSchema.parse(notice.payload['storage']);
  assert.equal(detail.kind, 'quarantined');
  assert.deepEqual(detail.kind === 'quarantined' && detail.moved_to, q.movedTo);
  const [row] = store.peekOutbox(10);
  assert.equal(row?.eventId, notice.id);
  assert.equal(row?.topic, 't/storage');
  assert.deepEqual(store.storageStatus().quarantine, { file: q.file, movedTo: q.movedTo, reason: q.reason, at: NOW });

  // And it keeps working.
  const e = store.recordEvent(newEvent(1), toOutbox);
  assert.equal(store.getEvent(e.id)?.id, e.id);
}

test('garbage where the database should be is moved aside, reported, and replaced', async (t) => {
  const dir = await tempDir(t);
  const garbage = Buffer.from('not an sqlite database, just bytes '.repeat(200));
  await writeFile(path.join(dir, DATABASE_FILE), garbage);
  const store = openRecovering(dir);
  t.after(() => store.close());
  assertRecovered(store, dir, garbage);
  assert.match(store.quarantine?.reason ?? '', /corrupt or not an SQLite database/);
});

test('a scribbled header is found at open', async (t) => {
  const dir = await tempDir(t);
  populate(dir, 50);
  const file = path.join(dir, DATABASE_FILE);
  const fh = await open(file, 'r+');
  await fh.write(Buffer.from('scribbled over the header!'), 0, 26, 0);
  await fh.close();
  const damaged = await readFile(file);
  const store = openRecovering(dir);
  t.after(() => store.close());
  assertRecovered(store, dir, damaged);
});

test('a truncated file and a scribbled page are found by the integrity check', async (t) => {
  for (const damage of ['truncate', 'scribble'] as const) {
    const dir = await tempDir(t);
    populate(dir, 2000);
    const file = path.join(dir, DATABASE_FILE);
    const size = (await stat(file)).size;
    if (damage === 'truncate') {
      await truncate(file, Math.floor(size / 2));
    } else {
      // Noise over pages in the middle of the file: the header stays valid, so only reading the
      // pages finds it.
      const fh = await open(file, 'r+');
      const noise = Buffer.alloc(16 * 4096, 0xa5);
      await fh.write(noise, 0, noise.length, Math.floor(size / 2 / 4096) * 4096);
      await fh.close();
    }
    const damaged = await readFile(file);
    const store = openRecovering(dir);
    t.after(() => store.close());
    assertRecovered(store, dir, damaged);
    assert.match(store.quarantine?.reason ?? '', /integrity check|corrupt/, damage);
  }
});

test('the -wal and -shm files go with the database, so a stale WAL cannot poison the new one', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, DATABASE_FILE);
  await writeFile(file, Buffer.alloc(8192, 7));
  await writeFile(`${file}-wal`, 'stale wal');
  await writeFile(`${file}-shm`, 'stale shm');
  const store = openRecovering(dir);
  t.after(() => store.close());
  const moved = store.quarantine?.movedTo ?? [];
  assert.equal(moved.length, 3);
  assert.ok(moved[1]?.endsWith('.db-wal') && moved[2]?.endsWith('.db-shm'), moved.join(' '));
  assert.equal(readFileSync(moved[1] ?? '', 'utf8'), 'stale wal');
  assert.equal(store.listEvents().length, 1, 'only the quarantine report');
});

test('a healthy database is opened as is, and a second start after a quarantine does not quarantine again', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, DATABASE_FILE), 'garbage');
  openRecovering(dir).close();
  const again = openRecovering(dir);
  t.after(() => again.close());
  assert.equal(again.quarantine, null, 'no crash loop: the fresh database is fine');
  assert.equal(readdirSync(dir).filter((f) => f.includes('corrupt')).length, 1);
  assert.equal(again.listEvents().length, 1, 'the report from the first start is still there');

  const healthy = await tempDir(t);
  const ids = populate(healthy, 10);
  const store = openRecovering(healthy);
  t.after(() => store.close());
  assert.equal(store.quarantine, null);
  assert.equal(store.listEvents().length, 10);
  assert.ok(ids.every((id) => store.getEvent(id)));
});

test('a newer schema or an unwritable path is not the file\'s fault: refused, never moved', async (t) => {
  const dir = await tempDir(t);
  const raw = new BetterSqlite3(path.join(dir, DATABASE_FILE));
  raw.pragma(`user_version = ${latestVersion + 1}`);
  raw.close();
  assert.throws(() => openRecovering(dir), (err: unknown) => err instanceof StoreError && err.problem === 'newer-schema');
  assert.deepEqual(readdirSync(dir), [DATABASE_FILE]);

  const dir2 = await tempDir(t);
  await writeFile(path.join(dir2, 'blocker'), '');
  assert.throws(() => openRecovering(path.join(dir2, 'blocker')), (err: unknown) => err instanceof StoreError && err.problem !== 'corrupt');
  assert.ok(existsSync(path.join(dir2, 'blocker')));
});

test('vigilctl\'s mode never moves the daemon\'s database', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, DATABASE_FILE), 'garbage');
  assert.throws(() => EventStore.open(dir), (err: unknown) => err instanceof StoreError && err.problem === 'corrupt');
  assert.deepEqual(readdirSync(dir), [DATABASE_FILE]);
});

test('a zero-length database (truncated) is not taken for a new one: moved aside, its WAL kept, reported, replaced', async (t) => {
  const dir = await tempDir(t);
  populate(dir, 20);
  // A crash leaves the last commits in the WAL; then something truncates the main file to nothing.
  const writer = EventStore.open(dir);
  writer.recordEvents(Array.from({ length: 5 }, (_, i) => newEvent(100 + i)), toOutbox);
  const wal = await readFile(path.join(dir, `${DATABASE_FILE}-wal`));
  assert.ok(wal.length > 0);
  writer.db.pragma('wal_checkpoint(PASSIVE)');
  // Closed without the checkpoint-and-delete of a clean close, as a power cut leaves it.
  await truncate(path.join(dir, DATABASE_FILE), 0);
  const walNow = await readFile(path.join(dir, `${DATABASE_FILE}-wal`));

  const store = openRecovering(dir);
  t.after(() => store.close());
  writer.close();
  assertRecovered(store, dir, Buffer.alloc(0));
  const q = store.quarantine;
  assert.match(q?.reason ?? '', /empty \(0 bytes\).*truncated/);
  assert.match(q?.reason ?? '', new RegExp(`its ${walNow.length}-byte WAL was kept`));
  assert.deepEqual(await readFile(q?.movedTo[1] ?? ''), walNow, 'the WAL moved beside it, byte for byte');
  assert.ok(q?.movedTo[1]?.endsWith('.db-wal'));
  // The new database is a database, not an empty file again.
  assert.ok((await stat(path.join(dir, DATABASE_FILE))).size > 0);
});

test('a zero-length database without a WAL is reported too', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, DATABASE_FILE), '');
  const store = openRecovering(dir);
  t.after(() => store.close());
  assertRecovered(store, dir, Buffer.alloc(0));
  assert.match(store.quarantine?.reason ?? '', /every event it held is gone$/);
  assert.equal(store.quarantine?.movedTo.length, 1);
});
