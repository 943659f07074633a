import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadDetector } from '../../daemon/inference/detector.js';
import { silentLogger } from '../../daemon/log.js';
import { ModelStore } from '../../daemon/models/store.js';
import { serveFiles } from '../helpers/file-server.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';

const run = promisify(execFile);
const SCRIPT = path.join(repoRoot, 'scripts', 'fetch-models');

test('scripts/fetch-models downloads both detectors from a mirror, verifies them and installs signed packages', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const server = await serveFiles(t, sharedPath('models'));
  const state = path.join(dir, 'state');
  const { stdout } = await run(SCRIPT, ['--state-dir', state, '--base-url', `${server.url}/`]);
  assert.deepEqual(server.requests.map((r) => r.path).sort(),
    ['/nanodet-m/labels.txt', '/nanodet-m/model.onnx', '/yolox-nano/labels.txt', '/yolox-nano/model.onnx']);
  const store = new ModelStore(path.join(state, 'models'));
  for (const [name, sha] of [['nanodet-m', '4b82da994'], ['yolox-nano', 'd39bee735']] as const) {
    const version = `upstream-${sha}`;
    const pointer = await store.pointer(name);
    const active = pointer?.active ?? '';
    assert.ok(active.startsWith(version), `${name} active: ${JSON.stringify(pointer)}`);
    assert.match(stdout, new RegExp(`${name} ${active}: installed in ${store.versionDir(name, active).replace(/[.]/g, '\\.')} \\(active at the next start of vigild\\)`));
    assert.match(stdout, new RegExp(`package: ${path.join(store.root, 'packages', `${name}-${active}.vpkg`).replace(/[.]/g, '\\.')}`));
    // What vigild would load at its next start.
    const d = await loadDetector({ name, manifestPath: store.manifestPath(name, active, 'fp32'), providers: ['cpu'], threads: 1 }, silentLogger());
    assert.equal(d.labels.length, 80);
    await d.close();
  }
  assert.match(stdout, /key [0-9a-f]{16}: private .*fetch-models\.key\.pem/);
  assert.match(stdout, /trust the key: model_store\.trusted_keys: \[.*fetch-models\.pub\.pem\]/);

  // Run again: nothing is downloaded twice, nothing installed twice.
  const before = server.requests.length;
  const again = await run(SCRIPT, ['--state-dir', state, '--base-url', server.url]);
  assert.equal(server.requests.length, before);
  assert.match(again.stdout, /nanodet-m upstream-4b82da9944b8: already installed/);
});

test('scripts/fetch-models refuses a file whose checksum is not the pinned one', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const mirror = path.join(dir, 'mirror');
  await mkdir(path.join(mirror, 'nanodet-m'), { recursive: true });
  // The wrong network under the right name: what a compromised or confused mirror would serve.
  await copyFile(sharedPath('models', 'yolox-nano', 'model.onnx'), path.join(mirror, 'nanodet-m', 'model.onnx'));
  await copyFile(sharedPath('models', 'nanodet-m', 'labels.txt'), path.join(mirror, 'nanodet-m', 'labels.txt'));
  const server = await serveFiles(t, mirror);
  const state = path.join(dir, 'state');
  await assert.rejects(run(SCRIPT, ['--state-dir', state, '--base-url', server.url, '--only', 'nanodet-m']), (err: unknown) => {
    const e = err as { code: number; stderr: string };
    assert.equal(e.code, 1);
    assert.match(e.stderr, /fetch-models: nanodet-m model from http:\/\/127\.0\.0\.1:\d+\/nanodet-m\/model\.onnx: sha256 d39bee73[0-9a-f]+, expected 4b82da99[0-9a-f]+ \(pinned\); refusing it/);
    return true;
  });
  assert.equal(existsSync(path.join(state, 'models', 'nanodet-m', 'versions')), false, 'nothing installed');
});
