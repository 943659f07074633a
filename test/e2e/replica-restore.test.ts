import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { auditMessageSchema } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { subscribe } from '../uplink/harness.js';
import { MODELS_DIR, makeDogClip, manifestPath, spawnDaemon, writeConfig } from './daemon-harness.js';

const ids = (file: string, where = ''): string[] => {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(`SELECT id FROM events ${where} ORDER BY id`).pluck().all() as string[]);
  } finally {
    db.close();
  }
};

test('the primary database scribbled over while vigild is stopped: it starts with every accepted event from the replica, and the undelivered ones reach the hub', async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-replica-');
  const broker = await startMosquitto(t, { persistence: true });
  // A persistent hub session: what vigild sends while the test is not looking still arrives.
  const hub = await subscribe(t, broker.url, 'vigil/v1/lab/cam-r/alerts', { clientId: 'hub-replica', clean: false, properties: { sessionExpiryInterval: 600 } });
  const audit = await subscribe(t, broker.url, 'vigil/v1/lab/cam-r/audit', { clientId: 'hub-replica-audit', clean: false, properties: { sessionExpiryInterval: 600 } });
  await broker.stop();

  const clip = await makeDogClip(dir);
  const storage = path.join(dir, 'state');
  const replica = path.join(dir, 'card');
  mkdirSync(replica);
  const config = await writeConfig(dir, {
    device: { id: 'cam-r', site: 'lab' },
    storage: { dir: storage, max_db_mb: 16, replica: { dir: replica, interval_ms: 100 } },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: MODELS_DIR,
    models: [{ name: 'nanodet', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    streams: [{ id: 'rear', uri: pathToFileURL(clip).href, model: 'nanodet', loop: true }],
    rules: [{ id: 'dog', stream: 'rear', kind: 'presence', classes: ['dog'], min_score: 0.3, cooldown_s: 0 }],
    evidence: { enabled: false },
  });

  // First run: the broker is down, so every event stays in the outbox (undelivered).
  const first = spawnDaemon(t, ['--config', config]);
  await first.waitForLine('the replica', (l) => l.msg === 'replica started', 30_000);
  const primary = path.join(storage, 'vigil.db');
  await waitFor('eight events recorded', () => (ids(primary).length >= 8 || undefined), 30_000);
  const stopped = await first.stop('SIGTERM');
  assert.equal(stopped.code, 0, first.stderr());
  const accepted = ids(primary);
  const undelivered = ids(primary, 'WHERE uplinked_at IS NULL');
  assert.deepEqual(undelivered, accepted, 'nothing was delivered with the broker down');

  // A failing card's garbage over the whole file while vigild is stopped.
  await writeFile(primary, Buffer.alloc(64 * 1024, 0x5a));
  await broker.start();
  const second = spawnDaemon(t, ['--config', config]);
  const restored = await second.waitForLine('the restore', (l) => l.msg === 'the database was corrupt: restored from the replica', 30_000);
  assert.equal(restored['from'], path.join(replica, 'vigil-replica.db'));
  t.diagnostic(`restore: ${JSON.stringify({ ...restored, time: undefined, pid: undefined })}`);
  assert.ok(Number(restored['events']) >= accepted.length, `restored ${String(restored['events'])} of ${accepted.length}`);
  assert.ok(readdirSync(storage).some((f) => f.startsWith('vigil.corrupt-') && f.endsWith('.db')), 'the damaged file is kept aside');

  // Every accepted event is in the new primary, and every undelivered one reaches the hub.
  const now = new Set(ids(primary));
  assert.deepEqual(accepted.filter((id) => !now.has(id)), [], 'no accepted event lost');
  await waitFor('every undelivered event at the hub', () => {
    const got = new Set(hub.messages.map((m) => (m.json as { id: string }).id));
    return undelivered.every((id) => got.has(id)) || undefined;
  }, 20_000);
  const record = await waitFor('the audit record of the restore', () =>
    audit.messages.map((m) => auditMessageSchema.parse(m.json)).find((a) => a.method === 'store.restore'), 10_000);
  assert.equal(record.transport, 'store');
  assert.equal(record.severity, 'alert');
  assert.match(record.reason ?? '', /database corrupt; restored \d+ events .* from .*vigil-replica\.db/);
  t.diagnostic(`${accepted.length} events accepted in the first run, all restored; ${undelivered.length} undelivered ones sent after the restore`);
  assert.equal((await second.stop('SIGTERM')).code, 0, second.stderr());
  assert.deepEqual(second.badLines, []);
});
