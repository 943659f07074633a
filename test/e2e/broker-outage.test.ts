import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { subscribe } from '../uplink/harness.js';
import { MODELS_DIR, makeDogClip, manifestPath, openDb, spawnDaemon, writeConfig } from './daemon-harness.js';

test('with the broker down vigild warns, keeps every event in the SQLite outbox, and delivers them once it is up', async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-outage-');
  const clip = await makeDogClip(dir);
  // A persistent hub session on a persistent broker: nothing sent to it while the hub is away is lost.
  const broker = await startMosquitto(t, { persistence: true });
  const hub = await subscribe(t, broker.url, 'vigil/v1/+/+/alerts', {
    clientId: 'hub-e2e-outage', clean: false, properties: { sessionExpiryInterval: 600 },
  });
  await broker.stop();

  const storage = path.join(dir, 'state');
  const config = await writeConfig(dir, {
    device: { id: 'van-2', site: 'depot' },
    storage: { dir: storage },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: MODELS_DIR,
    models: [{ name: 'nanodet', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    streams: [{ id: 'rear', uri: pathToFileURL(clip).href, model: 'nanodet', loop: true }],
    rules: [{ id: 'dog', stream: 'rear', kind: 'presence', classes: ['dog'], min_score: 0.3, cooldown_s: 0 }],
  });
  const vigild = spawnDaemon(t, ['--config', config]);

  const unreachable = (l: { level: string; msg: string }): boolean =>
    l.level === 'warn' && l.msg === 'cannot reach the MQTT broker; events stay queued';
  await vigild.waitForLine('a second warning about the broker', () => vigild.lines.filter(unreachable).length >= 2);
  for (const l of vigild.lines.filter(unreachable)) {
    assert.equal(l['url'], broker.url);
    assert.equal(typeof l['retryInMs'], 'number');
    assert.ok(Number(l['retryInMs']) <= 1000, 'reconnect_max_ms honoured');
  }
  await vigild.waitForLine('the event store', (l) => l.msg === 'event store open');

  const db = openDb(t, storage);
  const queuedIds = db.prepare('SELECT DISTINCT event_id AS id FROM outbox WHERE event_id IS NOT NULL ORDER BY seq');
  const queued = await waitFor('three events queued in the outbox', () => {
    const ids = (queuedIds.all() as { id: string }[]).map((r) => r.id);
    return ids.length >= 3 ? ids : undefined;
  }, 20_000);
  const uplinked = db.prepare('SELECT count(*) AS n FROM events WHERE uplinked_at IS NOT NULL AND id IN (SELECT value FROM json_each(?))');
  assert.equal((uplinked.get(JSON.stringify(queued)) as { n: number }).n, 0, 'nothing is marked delivered while the broker is down');
  const lastWarn = vigild.lines.filter(unreachable).at(-1);
  assert.ok(Number(lastWarn?.['outboxDepth']) >= 0, 'the warning reports the outbox depth');
  assert.equal(vigild.child.exitCode, null, 'vigild runs on without a broker');

  // The broker comes back on the same port: vigild reconnects by itself and drains the backlog.
  const linesBefore = vigild.lines.length;
  await broker.start();
  await vigild.waitForLine('the reconnect', (l) => l.msg === 'connected to the MQTT broker', 10_000, linesBefore);
  await waitFor('every queued event at the hub', () => {
    const got = new Set(hub.messages.map((m) => (m.json as { id: string }).id));
    return queued.every((id) => got.has(id)) || undefined;
  }, 15_000);
  await waitFor('the queued events to be marked delivered', () =>
    (uplinked.get(JSON.stringify(queued)) as { n: number }).n === queued.length || undefined);
  for (const m of hub.messages) assert.equal(m.userProperties['event_id'], (m.json as { id: string }).id);
  t.diagnostic(`${queued.length} events queued during the outage, ${hub.messages.length} alerts at the hub`);

  const exit = await vigild.stop('SIGTERM');
  assert.equal(exit.code, 0, vigild.stderr());
  assert.ok(exit.ms < 5000);
  assert.deepEqual(vigild.badLines, []);
});
