import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { call } from '../../cli/control-client.js';
import { App } from '../../daemon/app.js';
import { loadCheckedConfig } from '../../daemon/config/preflight.js';
import { silentLogger } from '../../daemon/log.js';
import { MODELS_DIR, manifestPath } from '../e2e/daemon-harness.js';
import { tempDir } from '../helpers/shared.js';

test('a live change the next start would refuse is refused now: an over-long socket, a class the model does not have', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'vigil.yaml');
  await writeFile(file, [
    'device: { id: cam-1, site: lab }',
    `storage: { dir: ${JSON.stringify(path.join(dir, 'state'))} }`,
    'mqtt: { url: "mqtt://127.0.0.1:1" }',
    `models_dir: ${JSON.stringify(MODELS_DIR)}`,
    `models: [{ name: det, manifest: ${JSON.stringify(manifestPath('nanodet-m'))}, providers: [cpu] }]`,
    `control: { socket: ${JSON.stringify(path.join(dir, 'vigild.sock'))} }`,
    'telemetry: { prometheus: { enabled: false } }',
    'streams: [{ id: yard, uri: "test://ball?width=160&height=120&fps=5", model: det }]',
    '',
  ].join('\n'));
  const cfg = await loadCheckedConfig(file);
  const app = new App(cfg, silentLogger(), { configFile: file, statsIntervalMs: 0 });
  await app.start(new AbortController().signal);
  t.after(() => app.stop());
  const before = await readFile(file, 'utf8');

  await assert.rejects(call(cfg.control.socket, { method: 'config.set', params: { path: 'control.socket', value: `/run/${'x'.repeat(120)}/vigild.sock` } }),
    /invalid: control\.socket: .*107/);
  await assert.rejects(call(cfg.control.socket, { method: 'rules.add', params: { rule: { id: 'p', stream: 'yard', kind: 'presence', classes: ['persn'] } } }),
    /invalid: rules\[0\]\.classes\[0\]: 'persn' is not a class of model det \(did you mean 'person'\?\)/);
  assert.equal(await readFile(file, 'utf8'), before, 'nothing was written');
  // The same file still starts, and a good change still goes through.
  await loadCheckedConfig(file);
  const ok = await call(cfg.control.socket, { method: 'rules.add', params: { rule: { id: 'p', stream: 'yard', kind: 'presence', classes: ['person'] } } });
  assert.deepEqual(ok.changed, ['rules.p']);
});
