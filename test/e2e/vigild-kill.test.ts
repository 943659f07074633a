import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { subscribe } from '../uplink/harness.js';
import { MODELS_DIR, makeDogClip, manifestPath, spawnDaemon, writeConfig } from './daemon-harness.js';

/** Every event id the database holds: what vigild had committed, whatever happened next. */
function committedIds(storage: string): string[] {
  const db = new BetterSqlite3(path.join(storage, 'vigil.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT id FROM events WHERE rule = 'objects'").all() as { id: string }[]).map((r) => r.id);
  } finally {
    db.close();
  }
}

test('vigild killed with SIGKILL mid-stream loses no committed event', { timeout: 150_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-kill-');
  const clip = await makeDogClip(dir);
  const broker = await startMosquitto(t, { persistence: true });
  const hub = await subscribe(t, broker.url, 'vigil/v1/+/+/alerts', {
    clientId: 'hub-e2e-kill', clean: false, properties: { sessionExpiryInterval: 600 },
  });
  const storage = path.join(dir, 'state');
  const config = await writeConfig(dir, {
    device: { id: 'cam-9', site: 'yard' }, storage: { dir: storage },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: MODELS_DIR,
    models: [{ name: 'yolox', manifest: manifestPath('yolox-nano'), providers: ['cpu'] }],
    // As fast as inference allows, an event on every frame: the highest event rate this clip gives.
    streams: [{ id: 'gate', uri: pathToFileURL(clip).href, model: 'yolox', loop: true, realtime: false, fps: 120 }],
    rules: [{ id: 'objects', stream: 'gate', kind: 'presence', classes: ['dog', 'bicycle', 'car', 'truck'], min_score: 0.3, cooldown_s: 0 }],
    telemetry: { prometheus: { enabled: false } },
  });

  const committedBeforeKills = new Set<string>();
  const kills = 4;
  for (let k = 0; k < kills; k++) {
    const vigild = spawnDaemon(t, ['--config', config]);
    const before = committedBeforeKills.size;
    // Kill at a different point each time: after 20 to 80 new events, while events keep coming.
    const target = before + 20 + Math.floor(Math.random() * 60);
    await waitFor(`${target} events committed (run ${k + 1})`, () => {
      try {
        return committedIds(storage).length >= target ? true : undefined;
      } catch {
        return undefined; // the database is not created yet
      }
    }, 60_000, 20).catch((err: unknown) => {
      throw new Error(`${String(err)}; vigild said: ${vigild.stdout().slice(-1500)} / ${vigild.stderr().slice(-1500)}`);
    });
    vigild.child.kill('SIGKILL');
    const exit = await vigild.waitForExit(5000);
    assert.equal(exit.signal, 'SIGKILL');
    for (const id of committedIds(storage)) committedBeforeKills.add(id);
    t.diagnostic(`run ${k + 1}: ${committedBeforeKills.size} committed so far, ${hub.messages.length} received`);
  }

  // A last, clean run drains whatever the kills left in the outbox.
  const last = spawnDaemon(t, ['--config', config]);
  await last.waitForLine('vigild running', (l) => l.msg === 'vigild running', 30_000);
  await waitFor('every id committed before a kill at the hub', () => {
    const got = new Set(hub.messages.map((m) => (m.json as { id: string }).id));
    return [...committedBeforeKills].every((id) => got.has(id)) || undefined;
  }, 60_000, 100);
  const exit = await last.stop();
  assert.equal(exit.code, 0);
  const received = hub.messages.map((m) => (m.json as { id: string }).id);
  const duplicates = received.length - new Set(received).size;
  t.diagnostic(`${committedBeforeKills.size} events committed across ${kills} kills; ${received.length} messages, ` +
    `${duplicates} duplicates (${((100 * duplicates) / Math.max(1, received.length)).toFixed(1)} %)`);
  assert.ok(committedBeforeKills.size >= kills * 20);
});
