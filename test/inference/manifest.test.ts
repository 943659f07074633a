import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ModelError } from '../../daemon/errors.js';
import { batchProfileOf, loadManifest } from '../../daemon/inference/manifest.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';

const valid = {
  file: 'm.onnx',
  sha256: 'a'.repeat(64),
  family: 'yolox',
  input: { width: 416, height: 416, colour: 'bgr' },
  labels: ['person', 'bicycle'],
  thresholds: { score: 0.3, iou: 0.45 },
};

async function writeManifest(dir: string, body: unknown, name = 'model.json'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof body === 'string' ? body : JSON.stringify(body));
  return file;
}

/** Asserts a ModelError whose message names the manifest file and every given field path. */
async function rejectsNaming(p: Promise<unknown>, manifest: string, ...fields: string[]): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ModelError, `expected a ModelError, got ${String(err)}`);
    assert.ok(err.message.includes(manifest), `message does not name ${manifest}: ${err.message}`);
    for (const f of fields) assert.ok(err.message.includes(`${f}:`), `message does not name field ${f}: ${err.message}`);
    return true;
  });
}

void test('the shipped manifests resolve against a models directory and carry the README checksums', async () => {
  const nano = await loadManifest(path.join(repoRoot, 'models', 'nanodet-m.json'), sharedPath('models'));
  assert.equal(nano.modelPath, sharedPath('models', 'nanodet-m', 'model.onnx'));
  assert.equal(nano.manifest.sha256, '4b82da9944b88577175ee23a459dce2e26e6e4be573def65b1055dc2d9720186');
  assert.deepEqual(nano.manifest.input.mean, [103.53, 116.28, 123.675]);
  assert.equal(nano.labels.length, 80);
  assert.equal(nano.labels[0], 'person');
  assert.equal(nano.labels[79], 'toothbrush');

  const yolox = await loadManifest(path.join(repoRoot, 'models', 'yolox-nano.json'), sharedPath('models'));
  assert.equal(yolox.modelPath, sharedPath('models', 'yolox-nano', 'model.onnx'));
  assert.equal(yolox.manifest.sha256, 'd39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a');
  assert.equal(yolox.manifest.input.pad_value, 114);
  assert.equal(yolox.manifest.input.letterbox_align, 'top-left');
});

void test('without a models directory, relative paths resolve against the manifest folder; defaults apply', async (t) => {
  const dir = await tempDir(t);
  const m = await loadManifest(await writeManifest(dir, valid));
  assert.equal(m.modelPath, path.join(dir, 'm.onnx'));
  assert.deepEqual(m.labels, ['person', 'bicycle']);
  assert.equal(m.manifest.input.layout, 'nchw');
  assert.equal(m.manifest.input.resize, 'letterbox');
  assert.equal(m.manifest.max_detections, 100);
  const abs = await loadManifest(await writeManifest(dir, { ...valid, file: '/opt/models/x.onnx' }, 'abs.json'), '/elsewhere');
  assert.equal(abs.modelPath, '/opt/models/x.onnx');
});

void test('every invalid field is reported at once, with the manifest file and the field path', async (t) => {
  const dir = await tempDir(t);
  const file = await writeManifest(dir, {
    ...valid,
    family: 'ssd',
    sha256: 'xyz',
    input: { width: -1, height: 416, colour: 'bgr', mean: [1, 2], std: [1, 1, 1], scale: 0.5 },
    thresholds: { score: 1.5, iou: 0.45 },
  });
  await rejectsNaming(loadManifest(file), file, 'family', 'sha256', 'input.width', 'input.mean', 'input.scale', 'thresholds.score');
});

void test('an unknown key is refused rather than ignored', async (t) => {
  const dir = await tempDir(t);
  const file = await writeManifest(dir, { ...valid, input: { ...valid.input, colour_order: 'rgb' } });
  await assert.rejects(loadManifest(file), (err: unknown) =>
    err instanceof ModelError && err.message.includes(file) && err.message.includes('colour_order'));
});

void test('a manifest that is not JSON, or is missing, names its file', async (t) => {
  const dir = await tempDir(t);
  const bad = await writeManifest(dir, '{ "file": ');
  await assert.rejects(loadManifest(bad), (err: unknown) => err instanceof ModelError && err.message.includes(bad) && /not JSON/.test(err.message));
  const missing = path.join(dir, 'absent.json');
  await assert.rejects(loadManifest(missing), (err: unknown) => err instanceof ModelError && err.message.includes(missing));
});

void test('a labels file is read relative to the models directory; a blank line in it is refused', async (t) => {
  const dir = await tempDir(t);
  await writeFile(path.join(dir, 'labels.txt'), 'person\nbicycle\ncar\n');
  const m = await loadManifest(await writeManifest(dir, { ...valid, labels: 'labels.txt' }, 'a.json'), dir);
  assert.deepEqual(m.labels, ['person', 'bicycle', 'car']);

  await writeFile(path.join(dir, 'gappy.txt'), 'person\n\ncar\n');
  await assert.rejects(loadManifest(await writeManifest(dir, { ...valid, labels: 'gappy.txt' }, 'b.json')),
    (err: unknown) => err instanceof ModelError && /gappy\.txt: line 2 is blank/.test(err.message));

  const missingLabels = await writeManifest(dir, { ...valid, labels: 'nope.txt' }, 'c.json');
  await assert.rejects(loadManifest(missingLabels),
    (err: unknown) => err instanceof ModelError && err.message.includes(path.join(dir, 'nope.txt')) && err.message.includes(missingLabels));
});

void test('a max_batch above 1 needs the input\'s name (TensorRT\'s batch profile names it); the profile follows the layout', async (t) => {
  const dir = await tempDir(t);
  const unnamed = await writeManifest(dir, { ...valid, input: { ...valid.input, max_batch: 8 } }, 'unnamed.json');
  await rejectsNaming(loadManifest(unnamed), unnamed, 'input.name');
  await assert.rejects(loadManifest(unnamed), /optimization profile/);

  const named = await loadManifest(await writeManifest(dir, { ...valid, input: { ...valid.input, name: 'images', max_batch: 8, width: 640, height: 384 } }, 'named.json'));
  assert.deepEqual(batchProfileOf(named.manifest.input), { input: 'images', maxBatch: 8, frame: [3, 384, 640] });
  const nhwc = await loadManifest(await writeManifest(dir, { ...valid, input: { ...valid.input, name: 'x', max_batch: 2, layout: 'nhwc' } }, 'nhwc.json'));
  assert.deepEqual(batchProfileOf(nhwc.manifest.input), { input: 'x', maxBatch: 2, frame: [416, 416, 3] });
  // Batch 1 (the default, and both shipped models) has no profile: TensorRT builds for the static shape.
  assert.equal(batchProfileOf((await loadManifest(await writeManifest(dir, valid, 'one.json'))).manifest.input), undefined);
});
