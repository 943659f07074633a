import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { UserStore } from '../../daemon/console/user-store.js';
import { tempDir } from '../helpers/shared.js';
import { runScript } from '../provision/run-script.js';

test('provision --console-admin makes the first admin once, from a password file; never with a default password', { timeout: 120_000 }, async (t) => {
  const root = await tempDir(t, 'vigil-root-');
  const secrets = await tempDir(t);
  const pwFile = path.join(secrets, 'admin.pw');
  await writeFile(pwFile, 'first admin password\n', { mode: 0o600 });
  const base = ['--device-id', 'cam-1', '--site', 'lab', '--hub', 'mqtt://hub.invalid:1883', '--root', root, '--no-systemctl', '--no-doctor', '--no-prepare-models'];

  const dry = await runScript('provision.sh', [...base, '--console-admin', 'ana', '--console-admin-password-file', pwFile, '--dry-run']);
  assert.equal(dry.code, 0, dry.out);
  assert.ok(dry.out.includes('would create console admin ana'), dry.out);

  const real = await runScript('provision.sh', [...base, '--console-admin', 'ana', '--console-admin-password-file', pwFile]);
  assert.equal(real.code, 0, real.out);
  assert.ok(!real.out.includes('first admin password'), 'the password is never printed');
  const state = path.join(root, 'var', 'lib', 'vigil');
  assert.equal((await stat(path.join(state, 'console-users.json'))).mode & 0o777, 0o600);
  const users = new UserStore(state);
  assert.deepEqual(users.list().map((u) => [u.name, u.role]), [['ana', 'admin']]);
  assert.deepEqual(await users.authenticate('ana', 'first admin password'), { name: 'ana', role: 'admin' });

  // Again: the account is there and left alone (its password is not reset).
  await writeFile(pwFile, 'another password altogether\n');
  const again = await runScript('provision.sh', [...base, '--console-admin', 'ana', '--console-admin-password-file', pwFile]);
  assert.equal(again.code, 0, again.out);
  assert.ok(again.out.includes('console admin ana: present'), again.out);
  assert.deepEqual(await new UserStore(state).authenticate('ana', 'first admin password'), { name: 'ana', role: 'admin' });

  const badName = await runScript('provision.sh', [...base, '--console-admin', '../x']);
  assert.equal(badName.code, 2, badName.out);
  // A password too short is refused by vigilctl, and provisioning fails rather than making a weak account.
  await writeFile(pwFile, 'short\n');
  const weak = await runScript('provision.sh', [...base, '--console-admin', 'bo', '--console-admin-password-file', pwFile]);
  assert.notEqual(weak.code, 0, weak.out);
  assert.equal(new UserStore(state).get('bo'), undefined);
});
