import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { DAEMON_ENV, DAEMON_MALLOC_TUNABLES, DAEMON_NODE_FLAGS, missingMallocTunables } from '../../daemon/node-flags.cjs';
import { repoRoot } from '../helpers/shared.js';

const run = promisify(execFile);

void test('the launcher\'s shebang, the built vigild and the unit\'s ExecStart pass the daemon\'s Node flags', async () => {
  const flags = DAEMON_NODE_FLAGS.join(' ');
  assert.ok(flags.length > 0);
  for (const file of [path.join(repoRoot, 'daemon', 'launcher.cts'), path.join(repoRoot, 'dist', 'daemon', 'launcher.cjs')]) {
    const first = (await readFile(file, 'utf8')).split('\n')[0];
    assert.equal(first, `#!/usr/bin/env -S GLIBC_TUNABLES=${DAEMON_MALLOC_TUNABLES} node ${flags}`, file);
    // Linux reads at most 255 bytes of a #! line (kernel 5.1 and later; L4T's kernels are 5.10+).
    assert.ok(Buffer.byteLength(first ?? '') < 256, `${file}: the #! line is ${Buffer.byteLength(first ?? '')} bytes`);
  }
  const unit = await readFile(path.join(repoRoot, 'systemd', 'vigild.service'), 'utf8');
  const exec = /^ExecStart=(.+)$/m.exec(unit)?.[1];
  assert.equal(exec, `/usr/bin/node ${flags} /opt/vigil/dist/daemon/launcher.cjs --config /etc/vigil/vigil.yaml`);
  for (const [k, v] of Object.entries(DAEMON_ENV)) assert.match(unit, new RegExp(`^Environment=${k}=${v.replace(/\./g, '\\.')}$`, 'm'), k);
});

/** glibc's dynamic loader, which can print the tunables a process would start with. */
function dynamicLoader(): string | undefined {
  return ['/lib64/ld-linux-x86-64.so.2', '/lib/ld-linux-aarch64.so.1'].find((p) => existsSync(p));
}

void test('this glibc knows every malloc setting and takes the values given (a misspelt tunable is ignored silently)', async () => {
  const ld = dynamicLoader();
  assert.ok(ld !== undefined, 'no glibc dynamic loader at a known path');
  const { stdout } = await run(ld, ['--list-tunables'], { env: { ...process.env, ...DAEMON_ENV } });
  for (const setting of DAEMON_MALLOC_TUNABLES.split(':')) {
    const [name, value] = setting.split('=');
    const line = stdout.split('\n').find((l) => l.startsWith(`${name}:`));
    assert.ok(line !== undefined, `${name} is not a tunable of this glibc`);
    const shown = /^[^:]+:\s*(0x[0-9a-f]+|\d+)/.exec(line)?.[1];
    assert.equal(Number(shown), Number(value), `${line}`);
  }
});

void test('vigild started through its shebang has the malloc settings in its environment', async () => {
  const launcher = path.join(repoRoot, 'dist', 'daemon', 'launcher.cjs');
  // A preload that prints what the launched process sees, then lets `--version` run as usual.
  const preload = path.join(tmpdir(), `vigil-env-probe-${process.pid}.cjs`);
  await writeFile(preload, "process.stderr.write('GLIBC_TUNABLES=' + (process.env.GLIBC_TUNABLES ?? '') + '\\n');\n");
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--require=${preload}` };
  delete env['GLIBC_TUNABLES'];
  const { stderr } = await run(launcher, ['--version'], { env }).finally(() => rm(preload, { force: true }));
  const seen = /^GLIBC_TUNABLES=(.*)$/m.exec(stderr)?.[1];
  assert.equal(seen, DAEMON_MALLOC_TUNABLES);
  assert.deepEqual(missingMallocTunables({ GLIBC_TUNABLES: seen }), []);
});

void test('missingMallocTunables names what is absent and accepts an operator\'s own additions', () => {
  assert.deepEqual(missingMallocTunables({}), DAEMON_MALLOC_TUNABLES.split(':'));
  assert.deepEqual(missingMallocTunables({ GLIBC_TUNABLES: `glibc.malloc.arena_max=2:${DAEMON_MALLOC_TUNABLES}` }), []);
  const [first, second] = DAEMON_MALLOC_TUNABLES.split(':');
  assert.deepEqual(missingMallocTunables({ GLIBC_TUNABLES: first }), [second]);
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
