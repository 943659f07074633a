import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { Severity } from '../../daemon/config/schema.js';
import { validateConfig } from '../../daemon/config/load.js';
import { silentLogger } from '../../daemon/log.js';
import { ModelManager } from '../../daemon/models/model-manager.js';
import { PackageError } from '../../daemon/models/package-error.js';
import type { ModelNotice } from '../../daemon/uplink/model-message.js';
import { writeYoloxLike } from '../helpers/onnx-writer.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';
import { makeKey, makePackage } from './fixtures.js';

test('another input size is refused for a live swap and accepted for the next start; a failed self-test is refused', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const key = makeKey(dir, 'pub');
  const cfg = validateConfig({
    device: { id: 'd', site: 's' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: 'mqtt://127.0.0.1:1' },
    models_dir: sharedPath('models'),
    models: [{ name: 'detector', manifest: path.join(repoRoot, 'models', 'yolox-nano.json'), providers: ['cpu'] }],
    model_store: { trusted_keys: [key.pub] },
  }, 'test');
  const reports: { severity: Severity; notice: ModelNotice }[] = [];
  const manager = new ModelManager({ config: cfg, log: silentLogger(), report: (severity, notice) => reports.push({ severity, notice }), deviceClass: 'linux-x64' });
  const holder = await manager.open(cfg.models[0]!);
  t.after(async () => {
    await manager.stop();
    await holder.close();
  });
  assert.equal(holder.version, 'config');

  // A YOLOX-shaped model at 320x320: valid, but the running pipelines deliver 416x416 frames.
  const small = path.join(dir, 'small.onnx');
  await writeYoloxLike(small, { size: 320, output: 'zero' });
  const manifest320 = path.join(dir, 'yolox-320.json');
  const m = JSON.parse(await readFile(path.join(repoRoot, 'models', 'yolox-nano.json'), 'utf8')) as { input: Record<string, unknown> };
  await writeFile(manifest320, JSON.stringify({ ...m, input: { ...m.input, width: 320, height: 320 } }));
  const pkg = await makePackage(dir, { model: 'yolox-nano', manifest: manifest320, name: 'detector', version: '320', key, onnx: small });
  await assert.rejects(manager.install({ file: pkg, activate: true }), (err: unknown) => {
    assert.ok(err instanceof PackageError);
    assert.equal(err.code, 'incompatible');
    assert.match(err.message, /^detector version 320 needs 320x320 letterboxed frames, but the running streams are built for 416x416 letterboxed: .* --at-restart/);
    return true;
  });
  assert.equal(holder.version, 'config', 'still the old model');
  assert.deepEqual(reports.map((r) => [r.notice.action, r.notice.code ?? null]), [['installed', null], ['refused', 'incompatible']]);

  const deferred = await manager.activate('detector', '320', true);
  assert.deepEqual({ deferred: deferred.deferred, previous: deferred.previous, probation: deferred.probation_s }, { deferred: true, previous: 'config', probation: 300 });
  assert.equal(holder.version, 'config', 'the streams keep the old model until the restart');
  const pointer = await manager.store.pointer('detector');
  assert.deepEqual({ active: pointer?.active, previous: pointer?.previous, state: pointer?.state }, { active: '320', previous: 'config', state: 'probation' });

  // A second manager, as at the next start, serves the new version at its own size.
  const next = new ModelManager({ config: cfg, log: silentLogger(), report: () => undefined, deviceClass: 'linux-x64' });
  const reopened = await next.open(cfg.models[0]!);
  t.after(async () => {
    await next.stop();
    await reopened.close();
  });
  assert.equal(reopened.version, '320');
  assert.deepEqual(reopened.inputSize(), { width: 320, height: 320, letterbox: true });

  // The same zero model at 416 with a self-test it cannot pass.
  const blind = path.join(dir, 'blind.onnx');
  await writeYoloxLike(blind, { output: 'zero' });
  const pkgBlind = await makePackage(dir, { model: 'yolox-nano', name: 'detector', version: 'blind', key, onnx: blind,
    selfTest: { image: sharedPath('images', 'dog.jpg'), expect: ['dog=133,205,325,543'] } });
  await assert.rejects(manager.install({ file: pkgBlind, activate: true }),
    /detector version blind failed its self-test: dog at \[133, 205, 325, 543\]: not detected$/);
  assert.equal(holder.version, 'config');
  assert.equal(reports.at(-1)?.notice.code, 'self_test_failed');
});
