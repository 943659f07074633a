import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { DAEMON_MALLOC_TUNABLES } from '../../daemon/node-flags.cjs';
import { tempDir } from '../helpers/shared.js';
import { linesWith, spawnDaemon, writeConfig } from './daemon-harness.js';

const WARNING = /GLIBC_TUNABLES/;

async function configIn(dir: string): Promise<string> {
  return writeConfig(dir, {
    device: { id: 'malloc', site: 'lab' }, storage: { dir: path.join(dir, 'state') },
    mqtt: { url: 'mqtt://127.0.0.1:1' }, streams: [{ id: 's0', uri: 'test://ball?width=160&height=120&fps=5', fps: 1 }],
  });
}

test('vigild started without the unit\'s malloc settings says which are missing, and runs', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  // An operator's own tunable in place of ours: both of ours are missing.
  const vigild = spawnDaemon(t, ['--config', await configIn(dir)], { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
  await vigild.waitForLine('vigild running', (l) => l.msg === 'vigild running', 30_000);
  const warned = linesWith(vigild, (l) => typeof l.msg === 'string' && WARNING.test(l.msg));
  assert.equal(warned.length, 1, JSON.stringify(warned));
  assert.deepEqual(warned[0]?.['missing'], DAEMON_MALLOC_TUNABLES.split(':'));
  assert.equal((await vigild.stop()).code, 0);
});

test('vigild started as the unit starts it logs no malloc warning', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const vigild = spawnDaemon(t, ['--config', await configIn(dir)]);
  await vigild.waitForLine('vigild running', (l) => l.msg === 'vigild running', 30_000);
  assert.deepEqual(linesWith(vigild, (l) => typeof l.msg === 'string' && WARNING.test(l.msg)), []);
  assert.equal((await vigild.stop()).code, 0);
});
