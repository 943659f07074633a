import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { DAEMON_MAIN } from '../e2e/daemon-harness.js';
import { tempDir } from '../helpers/shared.js';

void test('vigild without a config file says how to start: --demo or --config', async (t) => {
  const tmp = await tempDir(t);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')));
  const none = spawnSync(process.execPath, [DAEMON_MAIN, '--config', path.join(tmp, 'vigil.yaml')], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /no configuration at .*vigil\.yaml\. Try `npx vigild --demo` .* or `npx vigild --config FILE`/);
});
