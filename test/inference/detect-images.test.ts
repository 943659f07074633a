import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadDetector, type Detector } from '../../daemon/inference/detector.js';
import type { Box, Detection } from '../../daemon/inference/types.js';
import { silentLogger } from '../../daemon/log.js';
import type { Frame } from '../../daemon/video/frame.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';
import { gstFrame } from './gst-frame.js';

interface Known {
  label: string;
  box: Box;
  /** How close the box must be; 0.7 against a model's own README answers. */
  minIou: number;
}

function boxIou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

const show = (ds: readonly Detection[]): string =>
  ds.map((d) => `${d.label} ${d.score.toFixed(2)} (${d.box.map((v) => v.toFixed(0)).join(', ')})`).join('; ');

function assertFinds(found: readonly Detection[], known: readonly Known[], frame: Frame): void {
  for (const k of known) {
    const best = Math.max(0, ...found.filter((d) => d.label === k.label).map((d) => boxIou(d.box, k.box)));
    assert.ok(best >= k.minIou, `no ${k.label} within IoU ${k.minIou} of (${k.box.join(', ')}): best ${best.toFixed(2)}; found ${show(found)}`);
  }
  for (const d of found) {
    assert.ok(d.box[0] >= 0 && d.box[1] >= 0 && d.box[2] <= frame.sourceWidth && d.box[3] <= frame.sourceHeight,
      `box outside the ${frame.sourceWidth}x${frame.sourceHeight} source: ${show([d])}`);
  }
}

/** Per-class NMS at the manifest's IoU threshold leaves no two boxes of a class overlapping more. */
function assertNoDuplicates(found: readonly Detection[], iouThreshold: number): void {
  for (const a of found) {
    for (const b of found) {
      if (a !== b && a.label === b.label) {
        assert.ok(boxIou(a.box, b.box) <= iouThreshold, `overlapping ${a.label} boxes survived NMS: ${show([a, b])}`);
      }
    }
  }
}

// README answers (source pixels). For YOLOX on person.jpg its README gives none; NanoDet's boxes for
// the same objects serve as a looser cross-model reference.
const nanodetDog: Known[] = [
  { label: 'bicycle', box: [130, 140, 570, 420], minIou: 0.7 },
  { label: 'dog', box: [128, 200, 325, 545], minIou: 0.7 },
  { label: 'truck', box: [460, 78, 695, 172], minIou: 0.7 },
];
const nanodetPerson: Known[] = [
  { label: 'dog', box: [65, 264, 206, 348], minIou: 0.7 },
  { label: 'person', box: [180, 103, 289, 386], minIou: 0.7 },
];
const yoloxDog: Known[] = [
  { label: 'dog', box: [133, 205, 325, 543], minIou: 0.7 },
  { label: 'bicycle', box: [110, 137, 572, 425], minIou: 0.7 },
  { label: 'car', box: [466, 78, 694, 172], minIou: 0.7 },
];
const yoloxPerson: Known[] = nanodetPerson.map((k) => ({ ...k, minIou: 0.5 }));

let frames: { dog: Frame; person: Frame; dogRgba: Frame };
const detectors = new Map<string, Detector>();

before(async () => {
  const dir = await tempDir({ after });
  frames = {
    dog: await gstFrame(sharedPath('images', 'dog.jpg'), dir),
    person: await gstFrame(sharedPath('images', 'person.jpg'), dir),
    dogRgba: await gstFrame(sharedPath('images', 'dog.jpg'), dir, 'RGBA'),
  };
  for (const name of ['nanodet-m', 'yolox-nano']) {
    detectors.set(name, await loadDetector({
      name, manifestPath: path.join(repoRoot, 'models', `${name}.json`), modelsDir: sharedPath('models'),
      providers: ['cpu'], threads: 1,
    }, silentLogger()));
  }
});

after(async () => {
  for (const d of detectors.values()) await d.close();
});

function detector(name: string): Detector {
  const d = detectors.get(name);
  assert.ok(d, `${name} not loaded`);
  return d;
}

void test('GStreamer delivers the frames the pipeline would: aspect kept, inside 416x416', () => {
  assert.deepEqual([frames.dog.width, frames.dog.height, frames.dog.sourceWidth, frames.dog.sourceHeight], [416, 312, 768, 576]);
  assert.deepEqual([frames.person.sourceWidth, frames.person.sourceHeight], [640, 424]);
  assert.equal(frames.person.width, 416);
});

void test('nanodet-m finds the README objects in dog.jpg', async () => {
  const found = await detector('nanodet-m').detect(frames.dog);
  assertFinds(found, nanodetDog, frames.dog);
  assertNoDuplicates(found, 0.6);
});

void test('nanodet-m finds the README objects in person.jpg, and the horse on the right', async () => {
  const found = await detector('nanodet-m').detect(frames.person);
  assertFinds(found, nanodetPerson, frames.person);
  // "a horse on the right at lower scores"
  assert.ok(found.some((d) => d.label === 'horse' && d.box[0] > 320), `no horse on the right: ${show(found)}`);
  assertNoDuplicates(found, 0.6);
});

void test('yolox-nano finds the README objects in dog.jpg', async () => {
  const found = await detector('yolox-nano').detect(frames.dog);
  assertFinds(found, yoloxDog, frames.dog);
  assertNoDuplicates(found, 0.45);
  const dog = found.find((d) => d.label === 'dog');
  assert.ok(dog && dog.score > 0.7, `dog score should be near the README's 0.85: ${show(found)}`);
});

void test('yolox-nano finds the dog, the person and the horse in person.jpg', async () => {
  const found = await detector('yolox-nano').detect(frames.person);
  assertFinds(found, yoloxPerson, frames.person);
  assert.ok(found.some((d) => d.label === 'horse' && d.box[0] > 320), `no horse on the right: ${show(found)}`);
  assertNoDuplicates(found, 0.45);
});

void test('an RGBA frame gives the same answers as a BGRx one (channels reordered for a BGR model)', async () => {
  const found = await detector('yolox-nano').detect(frames.dogRgba);
  assertFinds(found, yoloxDog, frames.dogRgba);
});

void test('a higher score threshold per call drops the weaker objects', async () => {
  const found = await detector('nanodet-m').detect(frames.dog, { scoreThreshold: 0.65 });
  assert.deepEqual(found.map((d) => d.label), ['bicycle'], show(found));
});

void test('concurrent detect calls on one detector do not mix their frames', async () => {
  const d = detector('yolox-nano');
  const [dog, person] = await Promise.all([d.detect(frames.dog), d.detect(frames.person)]);
  assertFinds(dog, yoloxDog, frames.dog);
  assertFinds(person, yoloxPerson, frames.person);
});

void test('detect after close is refused; close twice is harmless', async () => {
  const d = await loadDetector({
    name: 'closing', manifestPath: path.join(repoRoot, 'models', 'yolox-nano.json'), modelsDir: sharedPath('models'),
    providers: ['cpu'], threads: 1,
  }, silentLogger());
  assert.deepEqual(d.inputSize(), { width: 416, height: 416, letterbox: true });
  await d.close();
  await d.close();
  await assert.rejects(d.detect(frames.dog), /closed/);
});
