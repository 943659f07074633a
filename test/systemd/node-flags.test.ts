import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { DAEMON_NODE_FLAGS } from '../../daemon/node-flags.cjs';
import { repoRoot } from '../helpers/shared.js';

const run = promisify(execFile);

void test('the launcher\'s shebang, the built vigild and the unit\'s ExecStart pass the daemon\'s Node flags', async () => {
  const flags = DAEMON_NODE_FLAGS.join(' ');
  assert.ok(flags.length > 0);
  for (const file of [path.join(repoRoot, 'daemon', 'launcher.cts'), path.join(repoRoot, 'dist', 'daemon', 'launcher.cjs')]) {
    const first = (await readFile(file, 'utf8')).split('\n')[0];
    assert.equal(first, `#!/usr/bin/env -S node ${flags}`, file);
  }
  const unit = await readFile(path.join(repoRoot, 'systemd', 'vigild.service'), 'utf8');
  const exec = /^ExecStart=(.+)$/m.exec(unit)?.[1];
  assert.equal(exec, `/usr/bin/node ${flags} /opt/vigil/dist/daemon/launcher.cjs --config /etc/vigil/vigil.yaml`);
});

void test('vigild runs through its shebang (env -S splits the flags) and V8 takes them', async () => {
  const launcher = path.join(repoRoot, 'dist', 'daemon', 'launcher.cjs');
  const { stdout } = await run(launcher, ['--version']);
  assert.match(stdout, /^\d+\.\d+\.\d+/);
  // The same flags on node's command line are what bound the young generation: a fresh node with
  // them reports a smaller new space after allocating than one without.
  // Short-lived objects with many survivors make V8 grow the new space as far as it is allowed.
  const probe = `const v8=require('v8');let k=[];for(let i=0;i<4e6;i++){k.push({a:i,b:[i]});if(k.length>2e5)k=[];}
process.stdout.write(String(v8.getHeapSpaceStatistics().find((s)=>s.space_name==='new_space').space_size))`;
  const plain = Number((await run(process.execPath, ['-e', probe])).stdout);
  const flagged = Number((await run(process.execPath, [...DAEMON_NODE_FLAGS, '-e', probe])).stdout);
  assert.ok(flagged < plain, `new space ${flagged} bytes with ${DAEMON_NODE_FLAGS.join(' ')}, ${plain} without`);
});
