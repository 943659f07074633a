import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { App } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import { callUnchecked } from '../../cli/control-client.js';
import { requestSchema, type Method } from '../../daemon/control/protocol.js';
import { resultSchemas } from '../../daemon/control/results.js';
import { publicPem } from '../../daemon/learning/keys.js';
import { silentLogger } from '../../daemon/log.js';
import { LogRing } from '../../daemon/manage/log-ring.js';
import { manifestPath, MODELS_DIR } from '../e2e/daemon-harness.js';
import { siteKeys } from '../learning/fl-fixtures.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { makeKey, makePackage } from '../models/fixtures.js';

/**
 * Every control method of a real daemon, over its real socket, with its reply checked against the
 * method table's result schema (daemon/control/results.ts): the schema vigilctl parses with is the
 * one the daemon's replies meet. A method added to the protocol without a call here fails the test.
 */
test('every control method answers over the socket with a reply its result schema accepts', { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const socket = path.join(dir, 'vigild.sock');
  const keys = siteKeys(1);
  await writeFile(path.join(dir, 'hub-sign.pub'), publicPem(keys.hubSign));
  await writeFile(path.join(dir, 'hub-encrypt.pub'), publicPem(keys.hubDecrypt));
  const key = makeKey(dir, 'publisher');
  const cfg = validateConfig({
    device: { id: 'cam-c', site: 'lab' },
    storage: { dir: path.join(dir, 'state') },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: MODELS_DIR,
    models: [{ name: 'detector', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    model_store: { trusted_keys: [key.pub] },
    control: { enabled: true, socket },
    telemetry: { prometheus: { enabled: false } },
    streams: [{ id: 'pattern', uri: 'test://ball?width=320&height=240&fps=5', model: 'detector' }],
    rules: [{ id: 'people', stream: 'pattern', kind: 'presence', classes: ['person'], min_score: 0.3, cooldown_s: 0, min_frames: 1 }],
    learning: {
      enabled: true, embedding_model: sharedPath('models', 'osnet-x0.25', 'model.onnx'),
      hub_sign_key: path.join(dir, 'hub-sign.pub'), hub_encrypt_key: path.join(dir, 'hub-encrypt.pub'), train_interval_s: 3600,
    },
  }, 'contract');
  let restarts = 0;
  const app = new App(cfg, silentLogger(), { configFile: null, statsIntervalMs: 0, logRing: new LogRing(100), onRestart: () => { restarts += 1; } });
  await app.start(new AbortController().signal);
  t.after(() => app.stop());
  await waitFor('the uplink to connect', () => app.status().uplink?.connected || undefined, 20_000);
  const pkg = await makePackage(dir, { model: 'nanodet-m', name: 'detector', version: '2', key });

  const checked = new Set<Method>();
  const expectOk = async (request: { method: Method; params?: Record<string, unknown> }): Promise<unknown> => {
    // The transport alone (an error reply throws with its code and message): the parse checked here is the table's.
    const body = await callUnchecked(socket, request as Parameters<typeof callUnchecked>[1], 60_000);
    const parsed = resultSchemas[request.method].safeParse(body);
    assert.ok(parsed.success, `${request.method}: the reply does not meet its result schema: ${parsed.error?.message ?? ''}\n${JSON.stringify(body).slice(0, 2000)}`);
    checked.add(request.method);
    return body;
  };

  await expectOk({ method: 'status' });
  const sent = await expectOk({ method: 'test_alert.send' }) as { event_id: string };
  await expectOk({ method: 'test_alert.status', params: { event_id: sent.event_id } });
  await expectOk({ method: 'events.list', params: { limit: 5 } });
  await expectOk({ method: 'events.show', params: { id: sent.event_id } });
  await expectOk({ method: 'events.ack', params: { id: sent.event_id, verdict: 'false_alarm', note: 'contract', by: 'vigilctl:test' } });
  await expectOk({ method: 'events.tail', params: { limit: 5 } });
  await expectOk({ method: 'streams.list' });
  await expectOk({ method: 'streams.add', params: { stream: { id: 'second', uri: 'test://ball?width=160&height=120&fps=5' } } });
  await expectOk({ method: 'streams.set', params: { id: 'second', changes: { fps: 2 } } });
  await expectOk({ method: 'streams.disable', params: { id: 'second' } });
  await expectOk({ method: 'streams.enable', params: { id: 'second' } });
  await expectOk({ method: 'rules.list' });
  await expectOk({ method: 'rules.add', params: { rule: { id: 'cars', stream: 'second', kind: 'presence', classes: ['car'] } } });
  await expectOk({ method: 'rules.set', params: { id: 'cars', changes: { min_score: 0.6 } } });
  await expectOk({ method: 'rules.remove', params: { id: 'cars' } });
  await expectOk({ method: 'streams.remove', params: { id: 'second' } });
  await expectOk({ method: 'config.get', params: { path: 'device' } });
  await expectOk({ method: 'config.set', params: { path: 'streams.pattern.fps', value: 4 } });
  await expectOk({ method: 'config.validate', params: { config: { device: { id: 'x', site: 'y' } } } });
  await expectOk({ method: 'config.validate', params: { text: 'streams: 3' } });
  await expectOk({ method: 'config.diff' });
  await expectOk({ method: 'logs.tail', params: { limit: 5 } });
  await expectOk({ method: 'fl.status' });
  await waitFor('a decoded frame', () => (app.status().streams.some((s) => s.framesPulled > 0) ? true : undefined), 20_000);
  await expectOk({ method: 'snapshot', params: { stream: 'pattern', overlay: true } });
  const calibration = await expectOk({ method: 'calibration.start', params: { streams: ['pattern'], count: 2, duration_s: 1 } }) as { job: string };
  await waitFor('the calibration job to end', async () =>
    ((await callUnchecked(socket, { method: 'calibration.fetch', params: { job: calibration.job, from: 0, max_bytes: 1 } }) as { state: string }).state === 'done' ? true : undefined), 20_000);
  await expectOk({ method: 'calibration.fetch', params: { job: calibration.job } });
  await expectOk({ method: 'calibration.drop', params: { job: calibration.job } });
  await expectOk({ method: 'models.list' });
  await expectOk({ method: 'models.install', params: { file: pkg, activate: false } });
  // The way vigilctl models install FILE sends a package: its bytes, then the install naming them.
  await expectOk({ method: 'models.upload', params: { upload: 'contract-upload', offset: 0, data: (await readFile(pkg)).subarray(0, 1000).toString('base64') } });
  await expectOk({ method: 'models.activate', params: { name: 'detector', version: '2' } });
  await expectOk({ method: 'models.rollback', params: { name: 'detector' } });
  await expectOk({ method: 'restart' });
  await waitFor('the restart to be handed to the supervisor', () => (restarts > 0 ? true : undefined));

  const methods = requestSchema.options.map((o) => o.shape.method.value);
  assert.deepEqual(methods.filter((m) => !checked.has(m)), [], 'every method of the protocol was called and its reply checked');
});
