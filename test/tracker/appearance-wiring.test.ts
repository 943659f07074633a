import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { App } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import { ConfigError } from '../../daemon/errors.js';
import { manifestPath, MODELS_DIR } from '../e2e/daemon-harness.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { capturedLogger } from '../video/fixtures.js';

const OSNET = sharedPath('models', 'osnet-x0.25', 'model.onnx');

const config = (dir: string, over: Record<string, unknown>, appearance: boolean): Record<string, unknown> => ({
  device: { id: 'cam', site: 'lab' },
  storage: { dir: path.join(dir, 'state') },
  // No broker: the events stay in the outbox, which this test does not read.
  mqtt: { url: 'mqtt://127.0.0.1:1' },
  telemetry: { prometheus: { enabled: false } },
  models_dir: MODELS_DIR,
  models: [{ name: 'yolox', manifest: manifestPath('yolox-nano'), providers: ['cpu'] }],
  streams: [
    { id: 'plaza', uri: pathToFileURL(sharedPath('video', 'pedestrians.mp4')).href, model: 'yolox', fps: 5, realtime: false,
      tracker: { appearance: { enabled: appearance } } },
  ],
  rules: [{ id: 'plaza', stream: 'plaza', kind: 'zone', classes: ['person'], min_score: 0.4, severity: 'info',
    zone: [[0, 0], [960, 0], [960, 540], [0, 540]] }],
  ...over,
});

void test('the appearance cue without an embedding model is refused at load, naming the stream', async (t) => {
  const dir = await tempDir(t);
  assert.throws(() => validateConfig(config(dir, {}, true), 'vigil.yaml'), (err: unknown) =>
    err instanceof ConfigError && /streams\[0\]\.tracker\.appearance\.enabled: the appearance cue needs learning\.embedding_model/.test(err.message));
  validateConfig(config(dir, {}, false), 'vigil.yaml');
});

/**
 * A real App on the plaza clip with the cue on: the stream's tracker is handed the daemon's OSNet
 * session, so crops are embedded (status shows them), and only for some tracks on some frames.
 */
void test('a stream with tracker.appearance.enabled tracks with the daemon\'s OSNet session; status counts its crops', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const { log } = capturedLogger('info');
  const cfg = validateConfig(config(dir, { learning: { embedding_model: OSNET } }, true), path.join(dir, 'vigil.yaml'));
  const app = new App(cfg, log, { statsIntervalMs: 0 });
  await app.start(new AbortController().signal);
  t.after(() => app.stop());
  const analysis = await waitFor('40 analysed frames with crops embedded', () => {
    const a = app.status().streams[0]?.analysis;
    return a !== undefined && a.framesAnalysed >= 40 && (a.appearance?.crops ?? 0) > 0 ? a : undefined;
  }, 90_000, 100);
  assert.equal(analysis.appearance?.failures, 0);
  assert.ok(analysis.appearance !== undefined && analysis.appearance.crops < analysis.framesAnalysed * 8,
    `the cue looks where motion is ambiguous, not at every track: ${analysis.appearance?.crops} crops over ${analysis.framesAnalysed} frames`);
});
