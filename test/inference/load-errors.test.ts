import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import type { InferenceSession } from 'onnxruntime-node';
import { ModelError } from '../../daemon/errors.js';
import { loadDetector, type DetectorOptions } from '../../daemon/inference/detector.js';
import { openSession } from '../../daemon/inference/session.js';
import { createLogger, silentLogger, type Logger } from '../../daemon/log.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';

const NANODET_SHA = '4b82da9944b88577175ee23a459dce2e26e6e4be573def65b1055dc2d9720186';

/** A copy of a shipped manifest with some fields replaced, written to `dir`. */
async function manifestWith(dir: string, base: string, over: Record<string, unknown>): Promise<string> {
  const raw = JSON.parse(await readFile(path.join(repoRoot, 'models', base), 'utf8')) as Record<string, unknown>;
  const file = path.join(dir, `${base}.${Object.keys(over).join('-')}.json`);
  await writeFile(file, JSON.stringify({ ...raw, ...over }));
  return file;
}

const options = (manifestPath: string, over: Partial<DetectorOptions> = {}): DetectorOptions =>
  ({ name: 't', manifestPath, modelsDir: sharedPath('models'), providers: ['cpu'], threads: 1, ...over });

function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('debug', { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { log, lines };
}

function isModelError(...fragments: string[]): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ModelError, `expected a ModelError, got ${String(err)}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `message lacks "${f}": ${err.message}`);
    return true;
  };
}

void test('a sha256 mismatch names the file, the expected and the actual hash', async (t) => {
  const dir = await tempDir(t);
  const wrong = 'ab'.repeat(32);
  const manifest = await manifestWith(dir, 'nanodet-m.json', { sha256: wrong });
  await assert.rejects(loadDetector(options(manifest), silentLogger()),
    isModelError(sharedPath('models', 'nanodet-m', 'model.onnx'), `expected ${wrong}`, `actual ${NANODET_SHA}`));
});

void test('a missing model file names the path it looked for and the manifest', async (t) => {
  const dir = await tempDir(t);
  const manifest = await manifestWith(dir, 'nanodet-m.json', { file: 'nanodet-m/absent.onnx' });
  await assert.rejects(loadDetector(options(manifest), silentLogger()),
    isModelError(sharedPath('models', 'nanodet-m', 'absent.onnx'), manifest, 'not found'));
});

void test('a corrupt model file with a matching checksum fails in onnxruntime as a ModelError', async (t) => {
  const dir = await tempDir(t);
  const garbage = randomBytes(4096);
  await writeFile(path.join(dir, 'model.onnx'), garbage);
  const sha256 = createHash('sha256').update(garbage).digest('hex');
  const manifest = await manifestWith(dir, 'yolox-nano.json', { file: 'model.onnx', sha256, labels: ['a', 'b'] });
  // No models dir: the file resolves beside the manifest.
  await assert.rejects(loadDetector(options(manifest, { modelsDir: undefined }), silentLogger()),
    isModelError('cannot load', path.join(dir, 'model.onnx'), 'cpu:'));
});

void test('an unknown family is refused by the manifest, naming the field', async (t) => {
  const dir = await tempDir(t);
  const manifest = await manifestWith(dir, 'yolox-nano.json', { family: 'ssd' });
  await assert.rejects(loadDetector(options(manifest), silentLogger()),
    isModelError(manifest, 'family: unknown family "ssd": expected one of "nanodet", "yolox", "yolov8"'));
});

void test('a manifest input size the model does not have fails at load', async (t) => {
  const dir = await tempDir(t);
  const raw = JSON.parse(await readFile(path.join(repoRoot, 'models', 'nanodet-m.json'), 'utf8')) as { input: object };
  const manifest = await manifestWith(dir, 'nanodet-m.json', { input: { ...raw.input, width: 320, height: 320 } });
  await assert.rejects(loadDetector(options(manifest), silentLogger()),
    isModelError('[1, 3, 416, 416]', '[1, 3, 320, 320]', 'input.1'));
});

void test('labels that do not match the class count fail at load with the decoder reason', async (t) => {
  const dir = await tempDir(t);
  const manifest = await manifestWith(dir, 'yolox-nano.json', { labels: ['a', 'b', 'c'] });
  await assert.rejects(loadDetector(options(manifest), silentLogger()),
    isModelError('family "yolox"', '80 class scores, but the manifest has 3 labels'));
});

void test('a family whose decoder does not fit the outputs fails at load', async (t) => {
  const dir = await tempDir(t);
  const manifest = await manifestWith(dir, 'yolox-nano.json', { family: 'nanodet' });
  await assert.rejects(loadDetector(options(manifest), silentLogger()), isModelError('family "nanodet"'));
});

const require = createRequire(import.meta.url);
const ortLibDir = path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
const hasTensorRt = existsSync(path.join(ortLibDir, 'libonnxruntime_providers_tensorrt.so'));

void test('providers tensorrt then cpu: TensorRT fails here, the CPU is used and reported, the failure logged',
  { skip: hasTensorRt && 'this onnxruntime build has a TensorRT provider' }, async () => {
    const { log, lines } = capturingLogger();
    const d = await loadDetector(options(path.join(repoRoot, 'models', 'nanodet-m.json'), { providers: ['tensorrt', 'cpu'] }), log);
    try {
      assert.equal(d.info.provider, 'cpu');
      assert.deepEqual({ ...d.info }, { name: 't', family: 'nanodet', provider: 'cpu', inputWidth: 416, inputHeight: 416 });
      // Expected off a Jetson (the npm build ships no GPU libraries): info, not warn.
      const warn = lines.find((l) => l['level'] === 'info' && l['provider'] === 'tensorrt');
      assert.ok(warn, `no warning for tensorrt in ${JSON.stringify(lines)}`);
      // The npm build ships no GPU provider libraries: the file check answers before onnxruntime is asked.
      assert.match(String(warn['reason']), /^provider library not installed: .*libonnxruntime_providers_(shared|tensorrt)\.so$/);
    } finally {
      await d.close();
    }
  });

void test('providers are tried in order, each later one listed behind the first, with the TensorRT cache set up', async (t) => {
  const dir = await tempDir(t);
  const saved = { enable: process.env['ORT_TENSORRT_ENGINE_CACHE_ENABLE'], path: process.env['ORT_TENSORRT_CACHE_PATH'] };
  delete process.env['ORT_TENSORRT_ENGINE_CACHE_ENABLE'];
  delete process.env['ORT_TENSORRT_CACHE_PATH'];
  t.after(() => {
    for (const [k, v] of [['ORT_TENSORRT_ENGINE_CACHE_ENABLE', saved.enable], ['ORT_TENSORRT_CACHE_PATH', saved.path]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  const tried: unknown[][] = [];
  const envAtTensorRt: (string | undefined)[] = [];
  const fake = { release: () => Promise.resolve() } as unknown as InferenceSession;
  const create = (_p: string, o: InferenceSession.SessionOptions): Promise<InferenceSession> => {
    const eps = [...(o.executionProviders ?? [])];
    tried.push(eps);
    const first = eps[0];
    const name = typeof first === 'string' ? first : first?.name;
    if (name === 'tensorrt') envAtTensorRt.push(process.env['ORT_TENSORRT_ENGINE_CACHE_ENABLE'], process.env['ORT_TENSORRT_CACHE_PATH']);
    return name === 'cpu' ? Promise.resolve(fake) : Promise.reject(new Error(`no ${name} here`));
  };
  const { log, lines } = capturingLogger();
  const cache = path.join(dir, 'trt-cache');
  const opened = await openSession('/m.onnx', { providers: ['tensorrt', 'cuda', 'cpu'], threads: 2, engineCacheDir: cache }, log, create);
  assert.equal(opened.provider, 'cpu');
  assert.equal(opened.session, fake);
  assert.deepEqual(tried, [
    [{ name: 'tensorrt', deviceId: 0 }, { name: 'cuda', deviceId: 0 }, 'cpu'],
    [{ name: 'cuda', deviceId: 0 }, 'cpu'],
    ['cpu'],
  ]);
  assert.deepEqual(envAtTensorRt, ['1', cache]);
  assert.ok(existsSync(cache), 'engine cache directory created');
  assert.deepEqual(lines.filter((l) => l['level'] === 'warn').map((l) => [l['provider'], l['reason']]),
    [['tensorrt', 'no tensorrt here'], ['cuda', 'no cuda here']]);

  // An operator's own cache path wins.
  process.env['ORT_TENSORRT_CACHE_PATH'] = '/operator/choice';
  envAtTensorRt.length = 0;
  await openSession('/m.onnx', { providers: ['tensorrt', 'cpu'], threads: 0, engineCacheDir: cache }, silentLogger(), create);
  assert.deepEqual(envAtTensorRt, ['1', '/operator/choice']);

  await assert.rejects(openSession('/m.onnx', { providers: ['tensorrt', 'cuda'], threads: 0 }, silentLogger(), create),
    /tensorrt: no tensorrt here; cuda: no cuda here/);
});
