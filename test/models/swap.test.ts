import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadDetector, type Detector } from '../../daemon/inference/detector.js';
import type { Detection } from '../../daemon/inference/types.js';
import { silentLogger } from '../../daemon/log.js';
import { SwappableDetector } from '../../daemon/models/swappable-detector.js';
import { gstFrame } from '../inference/gst-frame.js';
import { repoRoot, sharedPath, tempDir, waitFor } from '../helpers/shared.js';

const load = (model: 'nanodet-m' | 'yolox-nano'): Promise<Detector> => loadDetector({
  name: 'detector', manifestPath: path.join(repoRoot, 'models', `${model}.json`), modelsDir: sharedPath('models'), providers: ['cpu'], threads: 1,
}, silentLogger());

test('a swap between two frames: two streams keep calling, no call fails or is lost, the old model closes after its last call', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const frame = await gstFrame(sharedPath('images', 'dog.jpg'), dir);
  const nanodet = await load('nanodet-m');
  const yolox = await load('yolox-nano');
  const holder = new SwappableDetector(nanodet, 'config');
  t.after(() => holder.close());

  // On this photograph NanoDet-m scores the dog 0.59 and sees no car; YOLOX-Nano scores it 0.85
  // and calls the pick-up a car (0.80): each result says which model made it.
  const byModel = (ds: readonly Detection[]): 'nanodet' | 'yolox' | 'neither' => {
    const dog = Math.max(0, ...ds.filter((d) => d.label === 'dog').map((d) => d.score));
    const car = ds.some((d) => d.label === 'car');
    return !car && dog > 0.5 && dog < 0.7 ? 'nanodet' : car && dog > 0.75 ? 'yolox' : 'neither';
  };
  const results: ('nanodet' | 'yolox' | 'neither')[][] = [[], []];
  let failures = 0;
  let stop = false;
  let calls = 0;
  const stream = async (i: number): Promise<void> => {
    while (!stop) {
      calls += 1;
      try {
        results[i]?.push(byModel(await holder.detect(frame)));
      } catch {
        failures += 1;
      }
    }
  };
  const streams = [stream(0), stream(1)];
  const each = (n: number) => (): true | undefined => ((results[0]?.length ?? 0) >= n && (results[1]?.length ?? 0) >= n ? true : undefined);
  await waitFor('three frames on each stream before the swap', each(3), 10_000, 5);
  const { previous, baseline, retired } = holder.swap(yolox, '2');
  assert.equal(previous, nanodet);
  assert.ok(baseline.length >= 6 && baseline.every((s) => s.ok && s.detections >= 3), 'the old model\'s samples become the baseline');
  await retired;
  await waitFor('eight frames on each stream across the swap', each(8), 10_000, 5);
  stop = true;
  await Promise.all(streams);

  assert.equal(failures, 0, 'no call failed across the swap');
  assert.equal(results[0]!.length + results[1]!.length, calls, 'every call returned detections');
  for (const r of results) {
    const firstYolox = r.indexOf('yolox');
    assert.ok(firstYolox > 0, `each stream saw both models: ${r.join(',')}`);
    assert.ok(r.slice(0, firstYolox).every((m) => m === 'nanodet') && r.slice(firstYolox).every((m) => m === 'yolox'),
      `one switch per stream, never back: ${r.join(',')}`);
  }
  assert.equal(holder.version, '2');
  assert.equal(holder.info.family, 'yolox');
  assert.ok(holder.recent().length > 0 && holder.recent().every((s) => s.ok), 'samples now come from the new model');
  await assert.rejects(nanodet.detect(frame), /detector detector is closed/, 'the old session was released');
});
