import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { App } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import { silentLogger } from '../../daemon/log.js';
import { manifestPath } from '../e2e/daemon-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';

/**
 * The daemon as configured: a still picture with motion gating is inferred only at its
 * keep-alive, a moving one with gating on every frame, and both share the model through the
 * scheduler with the priorities their config gives them.
 */
test('app: streams share their model through the scheduler by config priority, and gating skips a still picture', async (t) => {
  const dir = await tempDir(t, 'vigil-throughput-');
  const broker = await startMosquitto(t);
  const gate = { enabled: true, keepalive_s: 1, hold_s: 0.5 };
  const cfg = validateConfig({
    device: { id: 'tp', site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
    models_dir: sharedPath('models'),
    models: [{ name: 'yolox-nano', manifest: manifestPath('yolox-nano'), providers: ['cpu'] }],
    control: { enabled: false }, telemetry: { prometheus: { enabled: false } },
    streams: [
      { id: 'still', uri: 'test://solid-color?width=320&height=240&fps=10', model: 'yolox-nano', fps: 10, priority: 'low', motion: { gate } },
      { id: 'moving', uri: 'test://ball?width=320&height=240&fps=10', model: 'yolox-nano', fps: 10, priority: 'high', motion: { gate } },
    ],
  }, 'throughput test');
  const app = new App(cfg, silentLogger(), { statsIntervalMs: 0 });
  t.after(() => app.stop());
  const started = performance.now();
  await app.start(new AbortController().signal);

  const byId = (id: string): NonNullable<ReturnType<App['status']>['streams'][number]> => {
    const s = app.status().streams.find((x) => x.id === id);
    assert.ok(s, id);
    return s;
  };
  await waitFor('40 frames handled on each stream', () =>
    (['still', 'moving'].every((id) => byId(id).analysis.framesAnalysed >= 40) ? true : undefined), 30_000);
  const still = byId('still').analysis;
  const moving = byId('moving').analysis;
  const detail = JSON.stringify({ still, moving });
  // 40+ frames at 10 fps is 4+ s: one inference at the start and one per 1 s keep-alive.
  assert.ok(still.gatedFrames >= 30, detail);
  assert.ok(still.inferences >= 2 && still.inferences <= 8, detail);
  // The ball moves in every frame: nothing gated once the background has been learnt.
  assert.ok(moving.gatedFrames <= 2, detail);
  assert.ok(moving.inferences >= 35, detail);

  const { models } = app.inferenceProfiles();
  const lanes = models[0]?.lanes ?? [];
  assert.deepEqual(lanes.map((l) => [l.streamId, l.priority]), [['still', 'low'], ['moving', 'high']]);
  // Served counts a frame when its run starts, the analyzer when it ends: one run may be in flight.
  const inFlight = (lanes[1]?.served ?? 0) - byId('moving').analysis.inferences;
  assert.ok(inFlight === 0 || inFlight === 1, `served ${lanes[1]?.served}, inferred ${byId('moving').analysis.inferences}`);
  assert.ok((models[0]?.profile?.runMs.percentiles()?.samples ?? 0) > 0);
  // yolox-nano is exported with batch 1: every run carries one frame, each lane's served frames.
  const sch = app.status().models[0]?.scheduler;
  const served = lanes.reduce((n, l) => n + l.served, 0);
  assert.ok(sch !== undefined && sch.maxBatch === 1 && sch.runs === sch.frames && sch.batchFallbacks === 0, JSON.stringify(sch));
  assert.ok(sch.frames >= served, `scheduler ran ${sch.frames} frames, lanes were served ${served} before`);
  // The worker's working time: at least each finished run's fastest time, at most the time it ran.
  const fastest = models[0]?.profile?.runMs.quantiles([0])?.[0] ?? NaN;
  assert.ok(sch.busyMs !== null && sch.busyMs >= (sch.runs - 1) * fastest && sch.busyMs <= performance.now() - started,
    `busy ${sch.busyMs} ms for ${sch.runs} runs of ≥ ${fastest} ms`);
});
