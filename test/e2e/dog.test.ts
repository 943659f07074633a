import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { test } from 'node:test';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { subscribe, type Received } from '../uplink/harness.js';
import {
  DOG_KNOWN, ISO_UTC, MODELS_DIR, UUID_V7, iou, makeDogClip, manifestPath, openDb, spawnDaemon, writeConfig,
  type Box, type KnownObject,
} from './daemon-harness.js';

interface AlertObject { label: string; score: number; box: Box }
interface Alert {
  schema: string; id: string; device: string; site: string; stream: string; rule: string; severity: string;
  ts: string; objects: AlertObject[];
}

const device = { id: 'pole-3', site: 'yard-east' };
const CLASSES = ['dog', 'bicycle', 'truck', 'car'];

/** The best match of `known` across every object of every alert. */
function bestMatch(alerts: readonly Alert[], known: KnownObject): { iou: number; object: AlertObject | null } {
  let best: { iou: number; object: AlertObject | null } = { iou: 0, object: null };
  for (const a of alerts) {
    for (const o of a.objects) {
      if (!known.labels.includes(o.label)) continue;
      const v = iou(o.box, known.box);
      if (v > best.iou) best = { iou: v, object: o };
    }
  }
  return best;
}

for (const model of ['nanodet-m', 'yolox-nano'] as const) {
  test(`dog.jpg clip → ${model} → presence rule → MQTT alert and SQLite event, end to end`, async (t) => {
    const dir = await tempDir(t, 'vigil-e2e-dog-');
    const clip = await makeDogClip(dir);
    const broker = await startMosquitto(t);
    const hub = await subscribe(t, broker.url, 'vigil/v1/+/+/alerts');
    const storage = path.join(dir, 'state');
    const config = await writeConfig(dir, {
      device,
      storage: { dir: storage },
      mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
      models_dir: MODELS_DIR,
      models: [{ name: model, manifest: manifestPath(model), providers: ['cpu'] }],
      streams: [{ id: 'driveway', uri: pathToFileURL(clip).href, model, loop: true }],
      rules: [{ id: 'dog-or-vehicle', stream: 'driveway', kind: 'presence', classes: CLASSES, min_score: 0.3, cooldown_s: 0 }],
    });
    const vigild = spawnDaemon(t, ['--config', config]);

    const known = DOG_KNOWN[model];
    const alerts = (): Alert[] => hub.messages.map((m) => m.json as Alert);
    await waitFor(`alerts with the dog, the bicycle and the truck within IoU 0.5 of the ${model} known answers`, () => {
      if (vigild.child.exitCode !== null) throw new Error(`vigild exited ${vigild.child.exitCode}: ${vigild.stderr()}`);
      const all = alerts();
      return all.length >= 3 && known.every((k) => bestMatch(all, k).iou >= 0.5) ? true : undefined;
    }, 45_000);
    for (const k of known) {
      const m = bestMatch(alerts(), k);
      t.diagnostic(`${model} ${k.name}: ${m.object?.label} ${m.object?.score.toFixed(2)} [${m.object?.box.map((v) => v.toFixed(0)).join(', ')}] IoU ${m.iou.toFixed(3)}`);
    }

    // Every message honours the vigil.alert/1 contract and carries its id as an MQTT 5 user property.
    const received: Received[] = [...hub.messages];
    const started = Date.now();
    for (const m of received) {
      const a = m.json as Alert;
      assert.equal(m.topic, `vigil/v1/${device.site}/${device.id}/alerts`);
      assert.deepEqual(Object.keys(a).sort(), ['device', 'id', 'kind', 'objects', 'rule', 'schema', 'severity', 'site', 'stream', 'ts']);
      assert.equal(a.schema, 'vigil.alert/1');
      assert.match(a.id, UUID_V7);
      assert.equal(a.device, device.id);
      assert.equal(a.site, device.site);
      assert.equal(a.stream, 'driveway');
      assert.equal(a.rule, 'dog-or-vehicle');
      assert.equal(a.severity, 'alert');
      assert.match(a.ts, ISO_UTC);
      assert.ok(Math.abs(Date.parse(a.ts) - started) < 120_000, `ts ${a.ts} is the frame's wall-clock time`);
      assert.equal(m.userProperties['event_id'], a.id, 'user property event_id equals the payload id');
      assert.ok(a.objects.length > 0);
      for (const o of a.objects) {
        assert.ok(CLASSES.includes(o.label), `only the rule's classes: ${o.label}`);
        assert.ok(o.score >= 0.3 && o.score <= 1, `score ${o.score} honours min_score`);
        assert.ok(o.box[0] >= 0 && o.box[1] >= 0 && o.box[2] <= 768 && o.box[3] <= 576 && o.box[0] < o.box[2] && o.box[1] < o.box[3],
          `box [${o.box.join(', ')}] in source pixels of 768×576`);
      }
    }
    const ids = received.map((m) => (m.json as Alert).id);
    assert.equal(new Set(ids).size, ids.length, 'ids are unique');

    const exit = await vigild.stop('SIGTERM');
    t.diagnostic(`${model}: exit ${exit.code} ${exit.ms.toFixed(0)} ms after SIGTERM; ${received.length} alerts received`);
    assert.equal(exit.code, 0, `exit code; stderr: ${vigild.stderr()}`);
    assert.ok(exit.ms < 5000, `exited ${exit.ms.toFixed(0)} ms after SIGTERM`);
    assert.deepEqual(vigild.badLines, [], 'every stdout line is JSON');
    assert.ok(vigild.lines.length > 0);
    for (const l of vigild.lines) {
      assert.equal(typeof l.level, 'string');
      assert.equal(typeof l.msg, 'string');
      assert.equal(l.pid, vigild.child.pid);
    }
    assert.ok(vigild.lines.some((l) => l.msg === 'model loaded' && l['model'] === model && l['provider'] === 'cpu'));
    assert.equal(vigild.lines.at(-1)?.msg, 'stopped');

    // The received ids are events in the device's own database, acknowledged and gone from the outbox.
    const db = openDb(t, storage);
    const rows = db.prepare(`SELECT id, stream, rule, severity, kind, payload, uplinked_at FROM events
      WHERE id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(ids)) as {
      id: string; stream: string; rule: string; severity: string; kind: string; payload: string; uplinked_at: number | null;
    }[];
    assert.deepEqual(rows.map((r) => r.id).sort(), [...ids].sort(), 'every received id is in the events table');
    const byId = new Map(received.map((m) => [(m.json as Alert).id, m.json as Alert]));
    for (const r of rows) {
      assert.equal(r.stream, 'driveway');
      assert.equal(r.rule, 'dog-or-vehicle');
      assert.equal(r.severity, 'alert');
      assert.equal(r.kind, 'presence');
      assert.notEqual(r.uplinked_at, null, 'acknowledged by the broker');
      assert.deepEqual((JSON.parse(r.payload) as { objects: AlertObject[] }).objects, byId.get(r.id)?.objects);
    }
    // Alert rows only: an event's evidence (its snapshot, its clip's parts) may still be on its way at stop.
    const pending = db.prepare('SELECT count(*) AS n FROM outbox WHERE evidence_kind IS NULL AND event_id IN (SELECT value FROM json_each(?))')
      .get(JSON.stringify(ids)) as { n: number };
    assert.equal(pending.n, 0, 'delivered rows left the outbox');
  });
}
