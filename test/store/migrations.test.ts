import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { StoreError } from '../../daemon/store/errors.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { latestVersion, migrate, userVersion, type Migration } from '../../daemon/store/migrations.js';
import { DATABASE_FILE, openDatabase } from '../../daemon/store/open.js';
import { tempDir } from '../helpers/shared.js';

const execFileAsync = promisify(execFile);

const event = {
  ts: Date.parse('2025-01-02T03:04:05.678Z'),
  stream: 'gate',
  rule: 'people-at-gate',
  severity: 'alert' as const,
  kind: 'presence',
  payload: { objects: [{ label: 'person', score: 0.9, box: [1, 2, 3, 4] as [number, number, number, number] }] },
};

test('a new database gets every migration, WAL and the pragmas', async (t) => {
  const dir = await tempDir(t);
  const db = openDatabase(dir);
  t.after(() => db.close());
  assert.equal(userVersion(db), latestVersion);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('synchronous', { simple: true }), 2, 'synchronous = FULL');
  assert.ok(Number(db.pragma('busy_timeout', { simple: true })) > 0);
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
  assert.deepEqual(tables.filter((n) => n === 'events' || n === 'outbox'), ['events', 'outbox']);
});

test('reopening keeps the data and applies nothing twice', async (t) => {
  const dir = await tempDir(t);
  const first = EventStore.open(dir);
  const stored = first.recordEvent(event);
  first.close();

  const second = EventStore.open(dir);
  t.after(() => second.close());
  assert.equal(userVersion(second.db), latestVersion);
  assert.deepEqual(second.getEvent(stored.id), stored);
});

test('migrations run in order, each in a transaction, and a failing one changes nothing', async (t) => {
  const dir = await tempDir(t);
  const db = new BetterSqlite3(path.join(dir, 'm.db'));
  t.after(() => db.close());
  const list: Migration[] = [
    { version: 2, description: 'second', sql: 'ALTER TABLE a ADD COLUMN y INTEGER' },
    { version: 1, description: 'first', sql: 'CREATE TABLE a (x INTEGER)' },
  ];
  assert.equal(migrate(db, list), 2);
  const broken: Migration[] = [...list, { version: 3, description: 'broken', sql: 'CREATE TABLE b (z); SELECT * FROM missing' }];
  assert.throws(() => migrate(db, broken), /missing/);
  assert.equal(userVersion(db), 2);
  assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'b'").pluck().get(), 0);
});

test('a database from a newer vigild is refused, naming the file and both versions', async (t) => {
  const dir = await tempDir(t);
  const raw = new BetterSqlite3(path.join(dir, DATABASE_FILE));
  raw.pragma(`user_version = ${latestVersion + 5}`);
  raw.close();
  assert.throws(() => openDatabase(dir), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.match(err.message, new RegExp(`${DATABASE_FILE}.*version ${latestVersion + 5}.*newer.*\\(${latestVersion}\\)`));
    return true;
  });
});

test('a corrupt file is refused with an error naming it', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, DATABASE_FILE), 'this is not an sqlite database, just some bytes '.repeat(100));
  assert.throws(() => openDatabase(dir), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.ok(err.message.includes(path.join(dir, DATABASE_FILE)), err.message);
    assert.match(err.message, /corrupt or not an SQLite database/);
    return true;
  });
});

test('an unusable path is refused with an error naming it', async (t) => {
  const dir = await tempDir(t);
  // A regular file where the storage directory should be: not creatable, whoever runs the test
  // (root ignores permission bits, so a read-only directory would not prove anything here).
  const blocker = path.join(dir, 'not-a-dir');
  await writeFile(blocker, '');
  assert.throws(() => openDatabase(path.join(blocker, 'state')), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.ok(err.message.includes(path.join(blocker, 'state', DATABASE_FILE)), err.message);
    return true;
  });
  // A directory where the database file should be.
  const dir2 = await tempDir(t);
  await mkdir(path.join(dir2, DATABASE_FILE));
  assert.throws(() => openDatabase(dir2), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.ok(err.message.includes(path.join(dir2, DATABASE_FILE)), err.message);
    return true;
  });
});

/**
 * Root ignores permission bits, and CI runs as root: then the open is tried in a child process
 * running as `nobody`, which is what the daemon's own unprivileged user meets on a device.
 */
async function openAsUnprivileged(dir: string): Promise<string> {
  const openJs = new URL('../../daemon/store/open.js', import.meta.url).href;
  const script = `import(${JSON.stringify(openJs)}).then((m) => { try { m.openDatabase(${JSON.stringify(dir)}); ` +
    `console.log('opened'); } catch (e) { console.log(e.constructor.name + ': ' + e.message); } })`;
  const { stdout } = await execFileAsync(process.execPath, ['-e', script], { uid: 65534, gid: 65534 });
  return stdout.trim();
}

test('a database the daemon may not write is refused at open, not at the first event', async (t) => {
  const dir = await tempDir(t);
  EventStore.open(dir).close();
  await chmod(path.join(dir, DATABASE_FILE), 0o444);
  await chmod(dir, 0o555);
  try {
    const file = path.join(dir, DATABASE_FILE);
    if (process.getuid?.() === 0) {
      await chmod(path.dirname(dir), 0o755).catch(() => undefined);
      const outcome = await openAsUnprivileged(dir);
      assert.ok(outcome.startsWith('StoreError: ') && outcome.includes(file) && /not writable/.test(outcome), outcome);
    } else {
      assert.throws(() => openDatabase(dir), (err: unknown) => {
        assert.ok(err instanceof StoreError);
        assert.ok(err.message.includes(file), err.message);
        assert.match(err.message, /not writable/);
        return true;
      });
    }
  } finally {
    // Before tempDir's cleanup, which could not remove a file from a read-only directory.
    await chmod(dir, 0o755);
  }
});
