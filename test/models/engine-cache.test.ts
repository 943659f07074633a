import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { InferenceSession } from 'onnxruntime-node';
import { silentLogger } from '../../daemon/log.js';
import { engineCacheKey } from '../../daemon/models/device-class.js';
import { openSession, tensorRtProfileShapes, type BatchProfile } from '../../daemon/inference/session.js';
import { tempDir } from '../helpers/shared.js';

/**
 * TensorRT cannot run here; what can be checked is what it would be handed. The provider reads
 * its engine cache folder and precision flags from the environment when a session is created, so
 * each activation must set them for its own model version, precision and device class.
 */
test('each session gets its own engine cache folder and precision flags; an operator\'s setting wins', async (t) => {
  const dir = await tempDir(t);
  for (const k of ['ORT_TENSORRT_CACHE_PATH', 'ORT_TENSORRT_FP16_ENABLE', 'ORT_TENSORRT_INT8_ENABLE', 'ORT_TENSORRT_ENGINE_CACHE_ENABLE']) delete process.env[k];
  const seen: Record<string, string | undefined>[] = [];
  const fake = { release: () => Promise.resolve() } as unknown as InferenceSession;
  // The GPU provider "fails" (as on this machine) after it has seen the environment; the CPU opens.
  const create = (_p: string, o: InferenceSession.SessionOptions): Promise<InferenceSession> => {
    const first = o.executionProviders?.[0];
    if (typeof first === 'object' && first.name === 'tensorrt') {
      seen.push({ path: process.env['ORT_TENSORRT_CACHE_PATH'], fp16: process.env['ORT_TENSORRT_FP16_ENABLE'], int8: process.env['ORT_TENSORRT_INT8_ENABLE'] });
      return Promise.reject(new Error('no TensorRT here'));
    }
    return Promise.resolve(fake);
  };
  const open = (sha: string, precision: 'fp32' | 'fp16' | 'int8'): Promise<unknown> => openSession('/m.onnx', {
    providers: ['tensorrt', 'cpu'], threads: 1, precision, engineCacheDir: path.join(dir, 'tensorrt', engineCacheKey(sha, precision, 'jetson-orin')),
  }, silentLogger(), create);
  const v1 = 'a'.repeat(64);
  const v2 = 'b'.repeat(64);
  await open(v1, 'fp16');
  await open(v2, 'fp16');
  await open(v2, 'int8');
  await open(v2, 'fp32');
  assert.deepEqual(seen.map((s) => [path.basename(s.path ?? ''), s.fp16, s.int8]), [
    [engineCacheKey(v1, 'fp16', 'jetson-orin'), '1', '0'],
    [engineCacheKey(v2, 'fp16', 'jetson-orin'), '1', '0'],
    [engineCacheKey(v2, 'int8', 'jetson-orin'), '1', '1'],
    [engineCacheKey(v2, 'fp32', 'jetson-orin'), '0', '0'],
  ]);
  assert.equal(new Set(seen.map((s) => s.path)).size, 4, 'a new folder whenever model, precision or device changes');

  process.env['ORT_TENSORRT_CACHE_PATH'] = '/operator/cache';
  process.env['ORT_TENSORRT_FP16_ENABLE'] = '1';
  await open(v1, 'fp32');
  assert.deepEqual(seen.at(-1), { path: '/operator/cache', fp16: '1', int8: '0' });
});

test('a model that takes batches gets TensorRT\'s optimization profile and an engine folder per max_batch; a batch-1 model none', async (t) => {
  const dir = await tempDir(t);
  const vars = ['ORT_TENSORRT_PROFILE_MIN_SHAPES', 'ORT_TENSORRT_PROFILE_OPT_SHAPES', 'ORT_TENSORRT_PROFILE_MAX_SHAPES'] as const;
  for (const k of [...vars, 'ORT_TENSORRT_CACHE_PATH']) delete process.env[k];
  t.after(() => {
    for (const k of [...vars, 'ORT_TENSORRT_CACHE_PATH']) delete process.env[k];
  });
  const seen: (string | undefined)[][] = [];
  const fake = { release: () => Promise.resolve() } as unknown as InferenceSession;
  const create = (_p: string, o: InferenceSession.SessionOptions): Promise<InferenceSession> => {
    const first = o.executionProviders?.[0];
    if (typeof first === 'object' && first.name === 'tensorrt') {
      seen.push([...vars.map((k) => process.env[k]), path.relative(dir, process.env['ORT_TENSORRT_CACHE_PATH'] ?? '')]);
      return Promise.reject(new Error('no TensorRT here'));
    }
    return Promise.resolve(fake);
  };
  const open = (batchProfile?: BatchProfile): Promise<unknown> => openSession('/m.onnx', {
    providers: ['tensorrt', 'cpu'], threads: 1, engineCacheDir: path.join(dir, 'k'), batchProfile,
  }, silentLogger(), create);
  await open({ input: 'images', maxBatch: 8, frame: [3, 416, 416] });
  await open({ input: 'images', maxBatch: 4, frame: [3, 416, 416] });
  await open();
  await open({ input: 'images', maxBatch: 1, frame: [3, 416, 416] });
  assert.deepEqual(seen, [
    ['images:1x3x416x416', 'images:8x3x416x416', 'images:8x3x416x416', path.join('k', 'batch-8')],
    ['images:1x3x416x416', 'images:4x3x416x416', 'images:4x3x416x416', path.join('k', 'batch-4')],
    [undefined, undefined, undefined, 'k'],
    [undefined, undefined, undefined, 'k'],
  ]);

  // An operator's own profile wins, for a batched model and a batch-1 one alike.
  process.env['ORT_TENSORRT_PROFILE_MAX_SHAPES'] = 'images:16x3x416x416';
  await open({ input: 'images', maxBatch: 8, frame: [3, 416, 416] });
  await open();
  assert.deepEqual(seen.slice(-2).map((s) => s[2]), ['images:16x3x416x416', 'images:16x3x416x416']);

  assert.throws(() => tensorRtProfileShapes({ input: 'a:b', maxBatch: 2, frame: [3, 8, 8] }), /cannot be written in a TensorRT profile/);
});
