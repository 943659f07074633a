import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { call } from '../../cli/control-client.js';
import { CliError } from '../../cli/errors.js';
import { App, type AppStatus } from '../../daemon/app.js';
import { validateConfig } from '../../daemon/config/load.js';
import { silentLogger } from '../../daemon/log.js';
import type { ChangeResult } from '../../daemon/manage/live-manager.js';
import { tempDir, waitFor } from '../helpers/shared.js';

const pattern = 'test://ball?width=160&height=120&fps=10';

test('without a config file, changes apply in memory and say so; concurrent changes are serialised', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const socket = path.join(dir, 'vigild.sock');
  const cfg = validateConfig({
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: 'mqtt://127.0.0.1:1' },
    streams: [{ id: 'one', uri: pattern }], control: { socket }, telemetry: { prometheus: { enabled: false } },
  }, 'test');
  const app = new App(cfg, silentLogger(), { configFile: null, statsIntervalMs: 0 });
  await app.start(new AbortController().signal);
  t.after(() => app.stop());

  // Two adds of the same id at once: one wins, the other sees it and is refused as a duplicate.
  const results = await Promise.allSettled([
    call(socket, { method: 'streams.add', params: { stream: { id: 'two', uri: pattern } } }),
    call(socket, { method: 'streams.add', params: { stream: { id: 'two', uri: pattern, fps: 2 } } }),
  ]);
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  assert.equal(ok.length, 1);
  assert.equal(ok[0]?.persisted, false);
  assert.equal(ok[0]?.file, null);
  assert.match(ok[0]?.note ?? '', /without a config file/);
  assert.equal(refused.length, 1);
  assert.ok(refused[0] instanceof CliError && /invalid: streams\[2\]\.id: duplicate id "two"/.test(refused[0].message), String(refused[0]));

  await waitFor('stream two playing', async () => {
    const st = await call(socket, { method: 'status' }) as AppStatus;
    return st.streams.find((s) => s.id === 'two')?.state === 'playing' ? true : undefined;
  });
  const set = await call(socket, { method: 'streams.set', params: { id: 'two', changes: { 'tracker.high_score': 0.3, fps: 7 } } }) as ChangeResult;
  assert.deepEqual(set.changed, ['streams.two.fps', 'streams.two.tracker.high_score'], 'a nested key set with a plain one');
  assert.deepEqual(set.applied, ['stream two restarted']);
  const reset = await call(socket, { method: 'streams.set', params: { id: 'two', changes: { fps: null } } }) as ChangeResult;
  assert.deepEqual(reset.changed, ['streams.two.fps']);
  const two = app.runningConfig().streams.find((s) => s.id === 'two');
  assert.deepEqual([two?.fps, two?.tracker.high_score], [5, 0.3], 'null put fps back to its default');
  const disabled = await call(socket, { method: 'streams.disable', params: { id: 'one' } }) as ChangeResult;
  assert.deepEqual(disabled.applied, ['stream one stopped']);
  const list = await waitFor('stream two playing again after its restart', async () => {
    const l = await call(socket, { method: 'streams.list' }) as { id: string; state: string; enabled: boolean }[];
    return l.find((s) => s.id === 'two')?.state === 'playing' ? l : undefined;
  });
  assert.deepEqual(list.map((s) => [s.id, s.state, s.enabled]), [['one', 'disabled', false], ['two', 'playing', true]]);
  assert.deepEqual((app.status()).streams.map((s) => s.id), ['two']);

  await assert.rejects(call(socket, { method: 'logs.tail', params: { limit: 10 } }), /keeps no log lines/);
  await assert.rejects(call(socket, { method: 'restart' }), /restart is not available/);
  await assert.rejects(call(socket, { method: 'config.set', params: { path: 'streams', value: 'nope' } }), /invalid: streams: /);
  assert.deepEqual(app.runningConfig().streams.map((s) => s.id), ['one', 'two'], 'the refused change left the running config alone');
});
