import assert from 'node:assert/strict';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { App } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { MODELS_DIR, manifestPath, openDb, type Box } from './daemon-harness.js';
import { captureLogger } from '../uplink/harness.js';

/**
 * The real plaza clip through the whole in-process pipeline (App, GStreamer, onnxruntime, SQLite,
 * mosquitto): people are in every frame of it, so nearly every analysed frame must fire the rule.
 */

const WIDTH = 960;
const HEIGHT = 540;

type Model = 'nanodet-m' | 'yolox-nano';

interface Run {
  framesAnalysed: number;
  events: number;
  /** Analysed frames per second, from the first to the last analysed frame. */
  fps: number;
}

/**
 * Runs the clip to its end through an in-process App and checks what every analysed frame gave:
 * stored person events whose boxes lie in the 960×540 source frame.
 */
async function runClip(t: TestContext, model: Model, realtime: boolean): Promise<Run> {
  const dir = await tempDir(t, 'vigil-e2e-ped-');
  const broker = await startMosquitto(t);
  const storage = path.join(dir, 'state');
  const cfg = validateConfig({
    device: { id: 'plaza-1', site: 'station' },
    storage: { dir: storage },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: MODELS_DIR,
    models: [{ name: model, manifest: manifestPath(model), providers: ['cpu'] }],
    control: { enabled: false },
    streams: [{ id: 'plaza', uri: pathToFileURL(sharedPath('video', 'pedestrians.mp4')).href, model, loop: false, realtime, fps: 30 }],
    rules: [{ id: 'people', stream: 'plaza', kind: 'presence', classes: ['person'], min_score: 0.3, cooldown_s: 0, min_frames: 1 }],
  }, 'pedestrians test');
  const { log, lines } = captureLogger('info');
  const app = new App(cfg, log, { statsIntervalMs: 0 });
  let stopped = false;
  t.after(async () => {
    if (!stopped) await app.stop();
  });
  await app.start(new AbortController().signal);

  // Watch the analysed count to time the first and the last analysed frame (5 ms resolution).
  let firstAt = 0;
  let lastAt = 0;
  let seen = 0;
  const stream = (): NonNullable<ReturnType<App['status']>['streams'][number]> => {
    const s = app.status().streams[0];
    assert.ok(s, 'the stream is running');
    return s;
  };
  await waitFor('the clip to end', () => {
    const s = stream();
    const n = s.analysis.framesAnalysed;
    if (n !== seen) {
      const now = performance.now();
      if (seen === 0) firstAt = now;
      lastAt = now;
      seen = n;
    }
    if (s.state === 'backoff') throw new Error(`stream failed: ${s.lastError}`);
    return s.state === 'ended' ? true : undefined;
  }, 60_000, 5);
  await app.stop(); // waits for the analysis loop to finish its last frame
  stopped = true;

  const s = stream();
  const { framesAnalysed, events, inferences, inferenceErrors, eventErrors, inferenceMs } = s.analysis;
  const fps = seen > 1 ? (seen - 1) / ((lastAt - firstAt) / 1000) : 0;
  t.diagnostic(`${model}, realtime ${realtime}: ${framesAnalysed} frames analysed of ${s.framesPulled} pulled (${s.framesDropped} dropped), ` +
    `${events} events, ${fps.toFixed(1)} analysed frames/s over ${((lastAt - firstAt) / 1000).toFixed(2)} s, ` +
    `inference ≈ ${inferenceMs.toFixed(1)} ms`);
  assert.equal(s.sourceWidth, WIDTH);
  assert.equal(s.sourceHeight, HEIGHT);
  assert.equal(s.lastError, null);
  assert.ok(framesAnalysed >= 1, 'frames were analysed');
  assert.equal(inferences, framesAnalysed, 'every analysed frame went through the model');
  assert.equal(inferenceErrors, 0);
  assert.equal(eventErrors, 0);
  assert.ok(events >= 0.8 * framesAnalysed, `${events} events for ${framesAnalysed} frames`);
  assert.ok(lines.some((l) => l.msg === 'file ended'), 'the stream ended at the end of the clip, without looping');
  assert.ok(!lines.some((l) => l.level === 'error' || l.level === 'fatal'), JSON.stringify(lines.filter((l) => l.level === 'error')));

  const db = openDb(t, storage);
  const rows = db.prepare("SELECT payload FROM events WHERE stream = 'plaza' AND rule = 'people'").all() as { payload: string }[];
  assert.equal(rows.length, events, 'every event is stored');
  let persons = 0;
  for (const r of rows) {
    const objects = (JSON.parse(r.payload) as { objects: { label: string; score: number; box: Box }[] }).objects;
    assert.ok(objects.length > 0);
    for (const o of objects) {
      persons += 1;
      assert.equal(o.label, 'person');
      assert.ok(o.score >= 0.3);
      const [x1, y1, x2, y2] = o.box;
      assert.ok(x1 >= 0 && y1 >= 0 && x2 <= WIDTH && y2 <= HEIGHT && x1 < x2 && y1 < y2, `box [${o.box.join(', ')}] within 960×540`);
    }
  }
  t.diagnostic(`${model}: ${(persons / rows.length).toFixed(1)} persons per event`);
  return { framesAnalysed, events, fps };
}

// As fast as the file decodes, paced by the analysis (a file with realtime false waits for its consumer).
for (const model of ['nanodet-m', 'yolox-nano'] as const) {
  test(`pedestrians.mp4 (960×540, realtime false) → ${model}: persons in ≥ 80 % of ≥ 20 analysed frames, boxes in the frame`, async (t) => {
    const run = await runClip(t, model, false);
    assert.ok(run.framesAnalysed >= 20, `${run.framesAnalysed} frames analysed`);
    assert.ok(run.events >= 0.8 * run.framesAnalysed, `${run.events} events for ${run.framesAnalysed} frames`);
  });
}
