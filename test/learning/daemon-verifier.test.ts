import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { connectAsync } from 'mqtt';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';
import { App } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import type { Config } from '../../daemon/config/schema.js';
import type { FlStatus } from '../../daemon/learning/device-learner.js';
import { FEATURE_DIM } from '../../daemon/learning/features.js';
import { publicPem } from '../../daemon/learning/keys.js';
import { LearningStore } from '../../daemon/learning/learning-store.js';
import { train, zeroWeights, type Sample } from '../../daemon/learning/model.js';
import { signModel } from '../../daemon/learning/signed-model.js';
import { flModelTopic } from '../../daemon/learning/topics.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { MODELS_DIR, manifestPath, openDb } from '../e2e/daemon-harness.js';
import { siteKeys } from './fl-fixtures.js';
import { captureLogger, type LogLine } from '../uplink/harness.js';

/**
 * The verifier inside the real daemon (App in-process: GStreamer, NanoDet, OSNet, SQLite, mosquitto)
 * on the plaza clip. Run 1: every event is alerted and gets a feature vector. The test then plays
 * hub: labels run 1's events by a written rule, trains on their features, and publishes the signed
 * model (retained), which the running daemon verifies and takes. Run 2 of the same clip: events the
 * model scores under the threshold stay on the device, marked, and never reach the broker; the
 * others are alerted; none is lost.
 */

const site = 'station';
const device = 'plaza-1';

async function fl(socket: string): Promise<FlStatus> {
  const lines: string[] = [];
  const out: Output = { raw: (s) => lines.push(s), result: (_j, v) => lines.push(JSON.stringify(v)), error: (s) => lines.push(s) };
  await buildProgram(out).parseAsync(['fl', 'status', '--socket', socket, '--json'], { from: 'user' });
  return JSON.parse(lines.join('')) as FlStatus;
}

async function runClip(t: TestContext, cfg: Config, afterEnd?: (events: number) => Promise<void>): Promise<{ events: number; lines: LogLine[] }> {
  const { log, lines } = captureLogger('info');
  const app = new App(cfg, log, { statsIntervalMs: 0 });
  let stopped = false;
  t.after(async () => { if (!stopped) await app.stop(); });
  await app.start(new AbortController().signal);
  await waitFor('the clip to end', () => {
    const s = app.status().streams[0];
    if (s?.state === 'backoff') throw new Error(`stream failed: ${s.lastError}`);
    // The file ends before the analysis loop has concluded its last frames.
    return s?.state === 'ended' && s.analysis.finished ? true : undefined;
  }, 90_000, 20);
  const events = app.status().streams[0]?.analysis.events ?? 0;
  // Extraction runs after each event's commit, off the analysis loop: wait for it to catch up.
  await waitFor('features for every event', async () => ((await fl(cfg.control.socket)).features >= events ? true : undefined), 20_000);
  await afterEnd?.(events);
  await app.stop();
  stopped = true;
  return { events, lines };
}

/** The written rule: an event whose main (highest-scoring) person stands in the left half of the plaza is a false alarm. */
function ruleSaysFalse(payload: string): boolean {
  const objects = (JSON.parse(payload) as { objects: { score: number; box: [number, number, number, number] }[] }).objects;
  const main = [...objects].sort((a, b) => b.score - a.score)[0]!;
  return (main.box[0] + main.box[2]) / 2 < 480;
}

test('the daemon extracts features for every event, takes the hub\'s signed model, and keeps likely false alarms local', async (t) => {
  const dir = await tempDir(t, 'vigil-fl-e2e-');
  const broker = await startMosquitto(t);
  const keys = siteKeys(1);
  await writeFile(path.join(dir, 'hub-sign.pub'), publicPem(keys.hubSign));
  await writeFile(path.join(dir, 'hub-encrypt.pub'), publicPem(keys.hubDecrypt));
  const storage = path.join(dir, 'state');
  const cfg = validateConfig({
    device: { id: device, site },
    storage: { dir: storage },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: MODELS_DIR,
    models: [{ name: 'nanodet-m', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    control: { enabled: true, socket: path.join(dir, 'vigild.sock') },
    telemetry: { prometheus: { enabled: false } },
    streams: [{ id: 'plaza', uri: pathToFileURL(sharedPath('video', 'pedestrians.mp4')).href, model: 'nanodet-m', loop: false, realtime: false, fps: 8 }],
    rules: [{ id: 'people', stream: 'plaza', kind: 'presence', classes: ['person'], min_score: 0.3, cooldown_s: 0, min_frames: 1 }],
    learning: {
      enabled: true, embedding_model: sharedPath('models', 'osnet-x0.25', 'model.onnx'),
      hub_sign_key: path.join(dir, 'hub-sign.pub'), hub_encrypt_key: path.join(dir, 'hub-encrypt.pub'), threshold: 0.5, train_interval_s: 3600,
    },
  }, 'fl e2e');
  const alerts: string[] = [];
  const hub = await connectAsync(broker.url, { protocolVersion: 5 });
  t.after(() => hub.endAsync(true));
  hub.on('message', (_topic, payload) => alerts.push((JSON.parse(payload.toString()) as { id: string }).id));
  await hub.subscribeAsync(`vigil/v1/${site}/${device}/alerts`, { qos: 1 });

  // Run 1: no model, so nothing is held. The test, as the hub, then trains and publishes a model.
  const run1 = await runClip(t, cfg, async (events) => {
    await waitFor('every run-1 alert at the hub', () => (new Set(alerts).size >= events ? true : undefined), 20_000);
    const db = openDb(t, storage);
    const rows = db.prepare('SELECT id, payload FROM events').all() as { id: string; payload: string }[];
    db.close();
    const ls = LearningStore.open(storage);
    const samples: Sample[] = rows.map((r) => ({ x: ls.getFeatures(r.id)!, y: ruleSaysFalse(r.payload) ? 0 : 1 }));
    ls.close();
    const w = train(zeroWeights(FEATURE_DIM), samples, { epochs: 200, learningRate: 0.5, l2: 1e-4, batchSize: 16, seed: 1 });
    const model = signModel({ site, round: 1, participants: 1, samples: samples.length, rule: 'fedavg' }, w, keys.hubSign);
    await hub.publishAsync(flModelTopic(site), JSON.stringify(model), { qos: 1, retain: true });
    await waitFor('the daemon to take model round 1', async () => ((await fl(cfg.control.socket)).round === 1 ? true : undefined), 10_000);
  });
  assert.ok(run1.events >= 30, `run 1 gave ${run1.events} events`);
  const run1Alerts = new Set(alerts);
  assert.equal(run1Alerts.size, run1.events, 'without a trained model every event is alerted');

  // Run 2: the stored model is verified again at start and screens from the first event.
  const run2 = await runClip(t, cfg, async () => {
    await waitFor('every run-2 event screened', () => {
      const db = openDb(t, storage);
      const pending = db.prepare(`SELECT count(*) AS n FROM events WHERE json_extract(payload, '$.verifier') IS NULL`).get() as { n: number };
      db.close();
      return pending.n === run1.events ? true : undefined; // only run 1's events carry no verdict
    }, 20_000);
    const status = await fl(cfg.control.socket);
    assert.equal(status.round, 1);
    assert.ok(status.suppressed > 0, 'some events were kept');
  });
  const db = openDb(t, storage);
  const rows = (db.prepare(`SELECT id, payload FROM events WHERE json_extract(payload, '$.verifier') IS NOT NULL`).all() as { id: string; payload: string }[])
    .map((r) => ({ id: r.id, payload: r.payload, v: (JSON.parse(r.payload) as { verifier: { p: number; likely_false_alarm: boolean } }).verifier }));
  assert.equal(rows.length, run2.events);
  const kept = rows.filter((r) => r.v.likely_false_alarm);
  const sent = rows.filter((r) => !r.v.likely_false_alarm);
  await waitFor('run-2 alerts at the hub', () => (sent.every((r) => alerts.includes(r.id)) ? true : undefined), 20_000);
  for (const r of kept) assert.equal(alerts.includes(r.id), false, `kept event ${r.id} reached the hub`);
  for (const r of rows) assert.equal(r.v.likely_false_alarm, r.v.p < 0.5);
  const agree = rows.filter((r) => r.v.likely_false_alarm === ruleSaysFalse(r.payload)).length / rows.length;
  const ruleFalse = rows.filter((r) => ruleSaysFalse(r.payload)).length;
  t.diagnostic(`run 1: ${run1.events} events, all alerted; run 2: ${run2.events} events, ${kept.length} kept on the device, ` +
    `${sent.length} alerted; the rule calls ${ruleFalse} false; verifier agrees with the rule on ${(100 * agree).toFixed(1)} %`);
  assert.ok(kept.length > 0 && sent.length > 0);
  assert.ok(agree > 0.8, `the verifier agrees with the rule it learned on only ${(100 * agree).toFixed(1)} % of run 2`);
  assert.ok(!run2.lines.some((l) => l.level === 'error' || l.level === 'fatal'), JSON.stringify(run2.lines.filter((l) => l.level === 'error')));
});
