import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../../daemon/log.js';
import { manifestPath, spawnDaemon, writeConfig, MODELS_DIR } from '../e2e/daemon-harness.js';
import { duplicateKeys } from '../helpers/json-keys.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';

void test('the key tokenizer sees what JSON.parse hides', () => {
  assert.deepEqual(duplicateKeys('{"a":1,"b":{"c":1,"c":2},"a":"x"}'), ['b.c', 'a']);
  assert.deepEqual(duplicateKeys('{"a":[{"k":1},{"k":2}],"s":"\\"a\\":1"}'), []);
  assert.throws(() => duplicateKeys('{"a":1'), /not JSON/);
});

void test('a child of a child, and a call naming its child\'s field again, write one key per field', () => {
  const written: string[] = [];
  const log = createLogger('info', { write: (s: string) => { written.push(s); } });
  log.child({ component: 'tiers' }).child({ component: 'evidence', stream: 'gate' }).info({ stream: 'gate', model: 'detector', model_path: '/m.onnx' }, 'x');
  assert.equal(written.length, 1);
  const line = written[0] ?? '';
  assert.deepEqual(duplicateKeys(line.trim()), [], line);
  const parsed = JSON.parse(line) as Record<string, unknown>;
  assert.equal(parsed['component'], 'evidence', 'the innermost child names the component');
  assert.deepEqual([parsed['stream'], parsed['model'], parsed['model_path']], ['gate', 'detector', '/m.onnx']);
  assert.ok(line.endsWith('\n'));
});

void test('every log line of a real daemon run has one key per field; expected CPU conditions are not warnings', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const config = await writeConfig(dir, {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
    models_dir: MODELS_DIR,
    // GPU providers first, as on a Jetson: here their libraries are missing, which is expected.
    inference: { providers: ['tensorrt', 'cuda', 'cpu'] },
    models: [{ name: 'detector', manifest: manifestPath('yolox-nano') }],
    streams: [{ id: 'gate', uri: 'test://ball?width=320&height=240&fps=5', fps: 2, model: 'detector' }],
    rules: [{ id: 'ball', stream: 'gate', kind: 'presence', classes: ['sports ball'] }],
    telemetry: { interval_s: 1, prometheus: { enabled: false } },
    log: { level: 'debug' },
  });
  const vigild = spawnDaemon(t, ['--config', config]);
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 30_000);
  await waitFor('frames analysed', () => (vigild.lines.some((l) => l.msg === 'model loaded') ? true : undefined), 30_000);
  await vigild.stop();
  const raw = vigild.stdout().split('\n').filter((l) => l.trim() !== '');
  assert.ok(raw.length > 10, `only ${raw.length} lines`);
  const repeated = raw.map((l) => ({ l, d: duplicateKeys(l) })).filter((x) => x.d.length > 0);
  assert.deepEqual(repeated.map((x) => `${x.d.join(',')}: ${x.l}`), []);
  // The provider fallback is logged, at info: a missing GPU library is the npm build off a Jetson.
  const fallback = vigild.lines.filter((l) => l.msg === 'execution provider failed to load the model');
  assert.deepEqual(fallback.map((l) => [l.level, l['provider'], l['model']]), [['info', 'tensorrt', 'detector'], ['info', 'cuda', 'detector']]);
  assert.match(String(fallback[0]?.['model_path']), /yolox-nano\/model\.onnx$/);
  assert.deepEqual(vigild.lines.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => l.msg), []);
});
