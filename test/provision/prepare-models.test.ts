import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { DAEMON_MAIN, manifestPath, MODELS_DIR, writeConfig } from '../e2e/daemon-harness.js';
import { tempDir } from '../helpers/shared.js';

void test('vigild --prepare-models: each model loaded with its providers and run once; a broken one fails the run, not the others', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  // A manifest whose checksum does not match its file: what a partial download looks like.
  const bad = JSON.parse(await readFile(manifestPath('nanodet-m'), 'utf8')) as Record<string, unknown>;
  await writeFile(path.join(dir, 'bad.json'), JSON.stringify({ ...bad, sha256: '0'.repeat(64) }));
  const state = path.join(dir, 'state');
  const run = async (models: { name: string; manifest: string; providers?: ('tensorrt' | 'cuda' | 'cpu')[] }[]): Promise<{ status: number | null; out: string; err: string }> => {
    const config = await writeConfig(dir, { device: { id: 'cam-1', site: 'lab' }, storage: { dir: state }, mqtt: { url: 'mqtt://127.0.0.1:1' }, models_dir: MODELS_DIR, models });
    const r = spawnSync(process.execPath, [DAEMON_MAIN, '--config', config, '--prepare-models'], { encoding: 'utf8', timeout: 50_000 });
    return { status: r.status, out: r.stdout, err: r.stderr };
  };

  // Default providers (tensorrt → cuda → cpu): here the GPU providers are not installed, so CPU.
  const ok = await run([{ name: 'yolox-nano', manifest: manifestPath('yolox-nano') }, { name: 'nanodet-m', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }]);
  assert.equal(ok.status, 0, ok.out + ok.err);
  assert.match(ok.out, new RegExp(`^prepare-models: 2 model\\(s\\), providers tried in order; TensorRT engine cache ${state}/tensorrt$`, 'm'));
  assert.match(ok.out, /^OK {4}yolox-nano {2}provider cpu, loaded in \d+ ms \(checksum, session, first run\), warm inference [\d.]+ ms; no engine to build on cpu/m);
  assert.match(ok.out, /^OK {4}nanodet-m {2}provider cpu/m);
  assert.match(ok.out, /^prepare-models: ready: yolox-nano on cpu, nanodet-m on cpu$/m);
  // The report is for a person; the log goes to stderr as JSON, warnings and worse only. GPU
  // providers without their libraries off a Jetson are expected (info), so they are not among them.
  for (const line of ok.err.trim().split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(line), line);
  assert.doesNotMatch(ok.err, /execution provider failed to load the model/);

  const failed = await run([{ name: 'broken', manifest: path.join(dir, 'bad.json') }, { name: 'yolox-nano', manifest: manifestPath('yolox-nano'), providers: ['cpu'] }]);
  assert.equal(failed.status, 1, failed.out + failed.err);
  assert.match(failed.out, /^FAIL {2}broken {2}.*sha256 mismatch/m);
  assert.match(failed.out, /^OK {4}yolox-nano /m);
  assert.match(failed.out, /^prepare-models: 1 of 2 FAILED: broken FAILED, yolox-nano on cpu$/m);

  const none = await run([]);
  assert.equal(none.status, 0);
  assert.match(none.out, /no models configured/);
});
