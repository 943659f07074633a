import assert from 'node:assert/strict';
import { readFile, writeFile, truncate, stat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { chooseVariant, engineCacheKey, detectDeviceClass } from '../../daemon/models/device-class.js';
import { loadPublicKey } from '../../daemon/models/keys.js';
import { PackageError } from '../../daemon/models/package-error.js';
import { PACKAGE_MAGIC, readPackageHeader } from '../../daemon/models/package-file.js';
import { packageManifestSchema } from '../../daemon/models/package-manifest.js';
import { CONFIG_VERSION, ModelStore } from '../../daemon/models/store.js';
import { sha256File } from '../../daemon/inference/checksum.js';
import { sharedPath, tempDir } from '../helpers/shared.js';
import { makeKey, makePackage } from './fixtures.js';

const refusedWith = (code: string, pattern: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof PackageError, `expected a PackageError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.match(err.message, pattern);
  return true;
};

test('a signed package installs into the store: files, per-precision manifests, record', async (t) => {
  const dir = await tempDir(t);
  const key = makeKey(dir, 'pub');
  const pkg = await makePackage(dir, { model: 'yolox-nano', name: 'detector', version: '2', key });
  const store = new ModelStore(path.join(dir, 'state', 'models'));
  const r = await store.install(pkg, [loadPublicKey(key.pub)]);
  assert.deepEqual({ name: r.name, version: r.version, installed: r.installed }, { name: 'detector', version: '2', installed: true });
  const vdir = store.versionDir('detector', '2');
  assert.equal(await sha256File(path.join(vdir, 'model.onnx')), await sha256File(sharedPath('models', 'yolox-nano', 'model.onnx')));
  const m = JSON.parse(await readFile(store.manifestPath('detector', '2', 'fp32'), 'utf8')) as { file: string; labels: string[]; family: string };
  assert.equal(m.file, 'model.onnx');
  assert.equal(m.family, 'yolox');
  assert.equal(m.labels.length, 80);
  const versions = await store.versions('detector');
  assert.deepEqual(versions.map((v) => v.version), ['2']);
  assert.equal(versions[0]?.key_id, loadPublicKey(key.pub).id);
  // The same package again is not an error; the same version with other contents is.
  assert.equal((await store.install(pkg, [loadPublicKey(key.pub)])).installed, false);
  const other = await makePackage(dir, { model: 'nanodet-m', name: 'detector', version: '2', key });
  await assert.rejects(store.install(other, [loadPublicKey(key.pub)]), refusedWith('exists', /already installed with different contents/));
  assert.deepEqual(await readdir(path.join(store.root, '.incoming')), [], 'nothing left half-unpacked');
});

test('refusals: altered manifest, untrusted key, altered model bytes, truncated file, not a package', async (t) => {
  const dir = await tempDir(t);
  const key = makeKey(dir, 'pub');
  const stranger = makeKey(dir, 'stranger');
  const trusted = [loadPublicKey(key.pub)];
  const store = new ModelStore(path.join(dir, 'state', 'models'));
  const pkg = await makePackage(dir, { model: 'yolox-nano', name: 'detector', version: '2', key });
  const bytes = await readFile(pkg);

  // Wrong signature: the score threshold lowered after signing.
  const tampered = path.join(dir, 'tampered.vpkg');
  const text = bytes.toString('latin1');
  const headerEnd = text.indexOf('\n', PACKAGE_MAGIC.length);
  const header = JSON.parse(text.slice(PACKAGE_MAGIC.length, headerEnd)) as { manifest: string };
  assert.match(header.manifest, /"score":0\.3/);
  const altered = { ...header, manifest: header.manifest.replace('"score":0.3', '"score":0.1') };
  await writeFile(tampered, Buffer.concat([Buffer.from(PACKAGE_MAGIC + JSON.stringify(altered) + '\n', 'latin1'), bytes.subarray(headerEnd + 1)]));
  await assert.rejects(store.install(tampered, trusted), refusedWith('bad_signature', /signature does not verify with key [0-9a-f]{16}/));

  // Untrusted key.
  const foreign = await makePackage(dir, { model: 'yolox-nano', name: 'detector', version: '3', key: stranger });
  await assert.rejects(store.install(foreign, trusted), refusedWith('untrusted_key', /signed by key [0-9a-f]{16}, which this device does not trust/));
  await assert.rejects(store.install(foreign, []), refusedWith('untrusted_key', /none; set model_store\.trusted_keys/));

  // Checksum mismatch: one byte of the ONNX file flipped.
  const flipped = Buffer.from(bytes);
  const at = headerEnd + 1 + 1000;
  flipped[at] = (flipped[at] ?? 0) ^ 0xff;
  const corrupt = path.join(dir, 'corrupt.vpkg');
  await writeFile(corrupt, flipped);
  await assert.rejects(store.install(corrupt, trusted), refusedWith('checksum_mismatch', /file model\.onnx: sha256 mismatch: signed manifest says [0-9a-f]{64}, the package holds [0-9a-f]{64}/));

  // Truncated: the last 100 kB missing.
  const short = path.join(dir, 'short.vpkg');
  await writeFile(short, bytes);
  await truncate(short, bytes.length - 100_000);
  await assert.rejects(store.install(short, trusted), refusedWith('truncated', /is truncated: its files need \d+ bytes after the header, it holds \d+/));

  await assert.rejects(store.install(sharedPath('models', 'yolox-nano', 'model.onnx'), trusted), refusedWith('not_a_package', /is not a Vigil model package/));
  assert.deepEqual(await store.versions('detector'), [], 'no refused package left a version behind');
  assert.deepEqual(await readdir(path.join(store.root, '.incoming')), []);
  // The original still installs: the refusals did not poison anything.
  assert.equal((await store.install(pkg, trusted)).installed, true);
  assert.equal((await readPackageHeader(pkg, trusted)).manifest.version, '2');
});

test('the TensorRT engine cache key changes with model hash, precision and device class, and only then', () => {
  const a = 'a'.repeat(64);
  const b = `${'a'.repeat(63)}b`;
  const base = engineCacheKey(a, 'fp16', 'jetson-orin');
  assert.equal(engineCacheKey(a, 'fp16', 'jetson-orin'), base, 'stable');
  const others = [engineCacheKey(b, 'fp16', 'jetson-orin'), engineCacheKey(a, 'int8', 'jetson-orin'), engineCacheKey(a, 'fp32', 'jetson-orin'),
    engineCacheKey(a, 'fp16', 'jetson-xavier'), engineCacheKey(a, 'fp16', 'linux-x64')];
  assert.equal(new Set([base, ...others]).size, others.length + 1, 'each change gives a new key');
  assert.match(base, /^aaaaaaaaaaaa-fp16-jetson-orin-[0-9a-f]{16}$/);
  assert.match(engineCacheKey(a, 'fp32', 'Weird/Class name'), /^aaaaaaaaaaaa-fp32-weird-class-name-[0-9a-f]{16}$/, 'a safe folder name');
  assert.equal(detectDeviceClass(() => 'NVIDIA Jetson AGX Orin Developer Kit\0'), 'jetson-orin');
  assert.equal(detectDeviceClass(() => { throw new Error('ENOENT'); }), `${process.platform}-${process.arch}`);
});

test('variants: the preferred precision and provider for the device class, fp32 elsewhere', () => {
  const m = packageManifestSchema.parse({
    schema: 'vigil.model-package/1', name: 'd', version: '1', created: new Date().toISOString(), family: 'yolox',
    input: { width: 416, height: 416, colour: 'bgr' }, labels: ['a'], thresholds: { score: 0.3, iou: 0.5 },
    files: [{ name: 'model.onnx', sha256: 'a'.repeat(64), size: 1 }, { name: 'model.int8.onnx', sha256: 'b'.repeat(64), size: 1 }],
    variants: [{ precision: 'fp32', file: 'model.onnx' }, { precision: 'fp16', file: 'model.onnx' }, { precision: 'int8', file: 'model.int8.onnx' }],
    preferred: { 'jetson-orin': { provider: 'tensorrt', precision: 'int8' }, 'linux-arm64': { provider: 'cuda' } },
  });
  assert.deepEqual(chooseVariant(m, 'jetson-orin', ['cuda', 'tensorrt', 'cpu']), { precision: 'int8', file: 'model.int8.onnx', providers: ['tensorrt', 'cuda', 'cpu'] });
  assert.deepEqual(chooseVariant(m, 'linux-arm64', ['tensorrt', 'cuda', 'cpu']), { precision: 'fp32', file: 'model.onnx', providers: ['cuda', 'tensorrt', 'cpu'] });
  assert.deepEqual(chooseVariant(m, 'linux-x64', ['cpu']), { precision: 'fp32', file: 'model.onnx', providers: ['cpu'] });
  // A preferred provider the device is not configured for is not forced on it.
  assert.deepEqual(chooseVariant(m, 'jetson-orin', ['cpu']).providers, ['cpu']);
  const bad = packageManifestSchema.safeParse({ ...m, variants: [{ precision: 'fp32', file: 'missing.onnx' }] });
  assert.equal(bad.success, false);
  assert.match(JSON.stringify(bad.error?.issues), /"missing.onnx\\" is not in files/);
});

test('prune keeps the active and previous versions and removes the oldest beyond count and disk budget', async (t) => {
  const dir = await tempDir(t);
  const key = makeKey(dir, 'pub');
  const trusted = [loadPublicKey(key.pub)];
  const store = new ModelStore(path.join(dir, 'models'));
  for (const v of ['1', '2', '3', '4', '5']) {
    await store.install(await makePackage(dir, { model: 'nanodet-m', name: 'det', version: v, key }), trusted);
  }
  await store.setPointer('det', { active: '2', previous: '1', activated_at: new Date().toISOString(), state: 'active' });
  assert.deepEqual(await store.prune('det', 3, Number.MAX_SAFE_INTEGER), ['3', '4']);
  assert.deepEqual((await store.versions('det')).map((v) => v.version), ['1', '2', '5']);
  const one = (await stat(path.join(store.versionDir('det', '5'), 'model.onnx'))).size;
  assert.deepEqual(await store.prune('det', 10, one * 2.5), ['5'], 'over the byte budget: the oldest unprotected one goes');
  assert.deepEqual((await store.versions('det')).map((v) => v.version), ['1', '2']);
  await store.setPointer('det', { active: CONFIG_VERSION, previous: null, activated_at: new Date().toISOString(), state: 'active' });
  assert.equal((await store.pointer('det'))?.active, 'config');
  assert.deepEqual((await readdir(path.join(store.root, 'det'))).filter((f) => f.endsWith('.tmp')), [], 'the pointer was renamed into place');
});
