import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { embedderLook, Tracker, type TrackedObject } from '../../daemon/analytics/tracker/index.js';
import { streamSchema } from '../../daemon/config/schema.js';
import { loadDetector } from '../../daemon/inference/detector.js';
import type { Detection } from '../../daemon/inference/types.js';
import { Embedder } from '../../daemon/learning/embedder.js';
import { silentLogger } from '../../daemon/log.js';
import type { Frame } from '../../daemon/video/frame.js';
import { VideoStream } from '../../daemon/video/stream.js';
import { repoRoot, sharedPath } from '../helpers/shared.js';

/**
 * pedestrians.mp4 at 10 fps through NanoDet-m, the tracker and OSNet x0.25: at the top right two
 * men walk together, one in a grey shirt behind, one in a dark shirt in front. From about 1.8 to
 * 3 s the detector sees one box for both; then they part, the dark shirt to the left. Motion alone
 * gives the dark shirt's id to the grey shirt when they part (and in one joint assignment of lost
 * and tracked tracks, `lost_after_tracked` off, the grey shirt's to the dark: the two ids swap).
 * With the appearance cue each keeps its id. This is the sequence the cue's
 * settings were chosen on (docs/tracking.md, "Appearance"); the held-out audit is in that file.
 */
const FPS = 10;
const FRAMES = 37;

interface Seen { frame: Frame; detections: Detection[] }

async function decode(t: { after(fn: () => Promise<void> | void): void }): Promise<{ seen: Seen[]; embedder: Embedder }> {
  const log = silentLogger();
  const detector = await loadDetector({
    name: 'nanodet-m', manifestPath: path.join(repoRoot, 'models', 'nanodet-m.json'), modelsDir: sharedPath('models'), providers: ['cpu'], threads: 1,
  }, log);
  t.after(() => detector.close());
  const embedder = await Embedder.open(sharedPath('models', 'osnet-x0.25', 'model.onnx'));
  t.after(() => embedder.close());
  const size = detector.inputSize();
  const config = streamSchema.parse({ id: 'plaza', uri: pathToFileURL(sharedPath('video', 'pedestrians.mp4')).href, model: 'nanodet-m', realtime: false, fps: FPS });
  const video = new VideoStream(config, { log, analysis: { width: size.width, height: size.height, resize: size.letterbox ? 'fit' : 'stretch', format: 'BGRx' } });
  await video.start(new AbortController().signal);
  t.after(() => video.stop());
  const seen: Seen[] = [];
  for (let f = await video.next(); f && seen.length < FRAMES; f = await video.next()) {
    // Kept to crop from after decoding ends; copied in case the pipeline reuses its buffers.
    const frame = { ...f, data: Buffer.from(f.data) };
    seen.push({ frame, detections: (await detector.detect(frame)).filter((d) => d.label === 'person') });
  }
  assert.equal(seen.length, FRAMES, 'decoded the first 3.7 s');
  return { seen, embedder };
}

async function track(seen: Seen[], embedder: Embedder, appearance: boolean): Promise<{ frames: TrackedObject[][]; tracker: Tracker }> {
  const tracker = new Tracker({ ...streamSchema.shape.tracker.parse({}), appearance: { enabled: appearance } });
  const frames: TrackedObject[][] = [];
  for (const [k, s] of seen.entries()) frames.push((await tracker.updateSeeing((k * 1000) / FPS, s.detections, embedderLook(embedder, s.frame))).tracks);
  return { frames, tracker };
}

/** The tracks whose box's left edge lies in [x1, x2) and top above 120 px (the two men), left to right. */
const pair = (tracks: TrackedObject[], x1: number, x2: number): number[] =>
  tracks.filter((t) => t.box[0] >= x1 && t.box[0] < x2 && t.box[1] < 120).sort((a, b) => a.box[0] - b.box[0]).map((t) => t.id);

test('the appearance cue keeps two ids through a merge where motion swaps them (real video, NanoDet-m, OSNet)', async (t) => {
  const { seen, embedder } = await decode(t);
  const off = await track(seen, embedder, false);
  const on = await track(seen, embedder, true);
  // Frame 14 (1.4 s): grey shirt left at x ≈ 641, dark shirt right at x ≈ 656. Frame 36: dark left (≈ 606), grey right (≈ 634).
  const before = (run: TrackedObject[][]): number[] => pair(run[14]!, 620, 700);
  const after = (run: TrackedObject[][]): number[] => pair(run[36]!, 590, 660);
  const story = (run: TrackedObject[][]): string => `before ${before(run).join('/')} after ${after(run).join('/')}`;
  t.diagnostic(`motion only: ${story(off.frames)}; with appearance: ${story(on.frames)}; ${JSON.stringify(on.tracker.appearanceStats)}`);
  for (const run of [off.frames, on.frames]) {
    assert.equal(before(run).length, 2, `both men tracked before they merge: ${story(run)}`);
    assert.equal(after(run).length, 2, `and after they part: ${story(run)}`);
  }
  const [grey, dark] = before(on.frames);
  assert.deepEqual(after(on.frames), [dark, grey], `with appearance each keeps its id: ${story(on.frames)}`);
  // Motion alone gives the dark shirt's id to the grey shirt when they part (what the cue is for).
  // With lost tracks matched after the tracked ones (the default) the grey shirt's own lost track
  // is not re-found and the dark shirt gets a new id; in one joint assignment the two ids swap.
  const [greyOff, darkOff] = before(off.frames);
  const [darkAfter, greyAfter] = after(off.frames);
  assert.ok(greyAfter === darkOff && darkAfter !== darkOff && darkAfter !== greyOff, `motion alone: ${story(off.frames)}`);

  const stats = on.tracker.appearanceStats;
  assert.equal(stats.frames, FRAMES);
  // About 7-8 people a frame: looking at every track of every frame would be some 280 crops.
  assert.ok(stats.crops < 0.3 * FRAMES * 8, `${stats.crops} crops in ${FRAMES} frames`);
});
