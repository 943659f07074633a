import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/shared.js';
import { spawnDaemon, writeConfig } from './daemon-harness.js';

test('SIGHUP does not end vigild: it says how changes are applied, keeps running, and still stops cleanly', async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-hup-');
  const config = await writeConfig(dir, {
    device: { id: 'gate-1', site: 'works' },
    storage: { dir: path.join(dir, 'state') },
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    streams: [{ id: 'yard', uri: 'test://ball?width=160&height=120&fps=5' }],
  });
  const vigild = spawnDaemon(t, ['--config', config]);
  await vigild.waitForLine('vigild running', (l) => l.msg === 'vigild running');
  const from = vigild.lines.length;
  vigild.child.kill('SIGHUP');
  const said = await vigild.waitForLine('the SIGHUP answer', (l) => l['signal'] === 'SIGHUP', 10_000, from);
  assert.match(said.msg, /vigilctl config diff/);
  assert.equal(vigild.child.exitCode, null, 'still running');
  const exit = await vigild.stop('SIGTERM');
  assert.equal(exit.code, 0, vigild.stderr());
});
