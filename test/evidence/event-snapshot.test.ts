import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import jpeg from 'jpeg-js';
import { call } from '../../cli/control-client.js';
import { App } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import { silentLogger } from '../../daemon/log.js';
import { manifestPath } from '../e2e/daemon-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';

/**
 * The event path end to end, in-process: a real detector's event on one-by-one-person-detection.mp4
 * (768x432, analysed at 416x234) gets a snapshot at the camera's size, taken from the stream's
 * full-resolution branch, with the event's box and the rule's zone drawn.
 */
void test('an event snapshot is the camera-size frame with the event box and the zone drawn', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-event-snap-');
  const broker = await startMosquitto(t);
  const socket = path.join(dir, 'vigild.sock');
  const zone: [number, number][] = [[370, 340], [560, 340], [560, 425], [370, 425]];
  const cfg = validateConfig({
    device: { id: 'room-1', site: 'gallery' },
    storage: { dir: path.join(dir, 'state') },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: sharedPath('models'),
    models: [{ name: 'nanodet-m', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    control: { socket },
    telemetry: { prometheus: { enabled: false } },
    evidence: { clips: { enabled: false } },
    streams: [{ id: 'room', uri: pathToFileURL(sharedPath('video', 'one-by-one-person-detection.mp4')).href, model: 'nanodet-m', realtime: false, fps: 2 }],
    rules: [{ id: 'stand', stream: 'room', kind: 'zone', classes: ['person'], zone, events: ['enter'], severity: 'alert' }],
  }, 'event snapshot test');
  const app = new App(cfg, silentLogger(), { statsIntervalMs: 0 });
  t.after(() => app.stop());
  await app.start(new AbortController().signal);

  const detail = await waitFor('an event with its snapshot', async () => {
    const list = await call(socket, { method: 'events.list', params: { stream: 'room', limit: 5 } });
    for (const e of list) {
      const d = await call(socket, { method: 'events.show', params: { id: e.id } });
      if (d.snapshot) return d;
    }
    return undefined;
  }, 90_000, 250);
  const snap = detail.snapshot!;
  const event = detail.event;
  assert.deepEqual([snap.width, snap.height], [768, 432], 'the camera\'s size, not the 416x234 analysis frame');
  const file = path.join(dir, 'state', 'evidence', `${event.id}.jpg`);
  const img = jpeg.decode(readFileSync(file), { useTArray: true });
  assert.deepEqual([img.width, img.height], [768, 432]);
  const at = (x: number, y: number): number[] => {
    const o = (Math.round(y) * img.width + Math.round(x)) * 4;
    return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!];
  };
  const isColour = (p: number[], want: readonly number[]): boolean => p.every((v, i) => Math.abs(v - want[i]!) <= 70);
  // The zone's top edge (y 340) in cyan; the event's box outline in red somewhere along its top edge.
  assert.ok(isColour(at(465, 339.5), [0, 200, 255]) || isColour(at(465, 340), [0, 200, 255]), `zone edge ${at(465, 340).join(',')}`);
  const box = event.payload.objects[0]?.box;
  assert.ok(box, JSON.stringify(event.payload).slice(0, 300));
  const [x1, y1, x2] = box;
  const red = [...Array(20).keys()].map((i) => at(x1 + ((x2 - x1) * (i + 0.5)) / 20, Math.max(0, y1) + 1)).filter((p) => isColour(p, [255, 32, 32]));
  assert.ok(red.length >= 10, `the event's box along its top edge at y ${y1}: ${red.length} of 20 samples red`);
});
