import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { callUnchecked as call } from '../../cli/control-client.js';
import { CliError } from '../../cli/errors.js';
import type { ControlTarget } from '../../daemon/control/handler.js';
import { ControlSocket } from '../../daemon/control/socket-server.js';
import { silentLogger } from '../../daemon/log.js';
import { tempDir } from '../helpers/shared.js';

/** The models.* methods over the real socket: long calls answered when done, params checked, errors carried. */
test('models.* over the control socket: slow answers, parameter checks, refusals as errors, absent manager', async (t) => {
  const dir = await tempDir(t);
  const seen: unknown[] = [];
  const target: ControlTarget = {
    status: () => ({ ok: true }),
    listEvents: () => [],
    models: {
      list: () => Promise.resolve({ models: [] }),
      install: async (req) => {
        seen.push(req);
        await new Promise((r) => setTimeout(r, 300));
        return { installed: true };
      },
      activate: (name, version, atRestart) => Promise.reject(new Error(`unknown_version: ${name} has no installed version "${version}" (${atRestart})`)),
      rollback: (name) => Promise.resolve({ name, from: '2', to: 'config' }),
    },
  };
  const file = path.join(dir, 'vigild.sock');
  const server = new ControlSocket(file, target, silentLogger());
  await server.start();
  t.after(() => server.stop());

  // A status asked while an install is in progress is answered at once, on its own connection.
  const started = performance.now();
  const install = call(file, { method: 'models.install', params: { file: '/tmp/x.vpkg', activate: false } });
  assert.deepEqual(await call(file, { method: 'status' }), { ok: true });
  assert.ok(performance.now() - started < 250, 'status did not wait for the install');
  assert.deepEqual(await install, { installed: true });
  assert.deepEqual(seen, [{ file: '/tmp/x.vpkg', activate: false }]);

  assert.deepEqual(await call(file, { method: 'models.rollback', params: { name: 'detector' } }), { name: 'detector', from: '2', to: 'config' });
  await assert.rejects(call(file, { method: 'models.activate', params: { name: 'detector', version: '9', at_restart: true } }),
    (err: unknown) => err instanceof CliError && err.exitCode === 1 && /^failed: unknown_version: detector has no installed version "9" \(true\)$/.test(err.message));
  await assert.rejects(call(file, { method: 'models.install', params: { file: '/a', url: 'http://x/y', activate: true } }),
    /bad_request: params: give exactly one of file, url and upload/);
  await assert.rejects(call(file, { method: 'models.install', params: { url: 'ftp://x/y', activate: true } } as never), /bad_request: params\.url/);

  const bare = new ControlSocket(path.join(dir, 'bare.sock'), { status: () => ({}), listEvents: () => [] }, silentLogger());
  await bare.start();
  t.after(() => bare.stop());
  await assert.rejects(call(path.join(dir, 'bare.sock'), { method: 'models.list' }), /failed: model management is not available in this daemon/);
});
