import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot, tempDir } from '../helpers/shared.js';

const run = promisify(execFile);
const UNIT = path.join(repoRoot, 'systemd', 'vigild.service');
const ANALYZE = '/usr/bin/systemd-analyze';
const MAX_EXPOSURE = 3.0;

interface Result {
  code: number;
  out: string;
}

async function analyze(args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(ANALYZE, args, { env: { ...process.env, SYSTEMD_COLORS: '0', LC_ALL: 'C.UTF-8' } });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`${ANALYZE} not found: install Debian's "systemd" package (it ships systemd-analyze)`);
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/**
 * `verify` fails on an ExecStart binary that does not exist, and /usr/bin/node need not exist on a
 * development machine (nvm, a tarball). The copy differs from the real unit in that one path only:
 * argv[0] becomes the node running this test. The rest of the line, and every other line, is what
 * ships.
 */
async function unitWithRealNode(t: { after(fn: () => Promise<void> | void): void }): Promise<string> {
  const text = await readFile(UNIT, 'utf8');
  const execStart = /^ExecStart=\/usr\/bin\/node (.+)$/m;
  assert.match(text, execStart, 'ExecStart runs /usr/bin/node');
  const dir = await tempDir(t, 'vigil-unit-');
  const copy = path.join(dir, 'vigild.service');
  await writeFile(copy, text.replace(execStart, `ExecStart=${process.execPath} $1`));
  return copy;
}

void test('systemd-analyze verify accepts vigild.service without a warning', async (t) => {
  const unit = await unitWithRealNode(t);
  const r = await analyze(['verify', unit]);
  // verify exits 0 on unknown keys and bad values, printing "file:line: ..." warnings: those count too.
  const ours = r.out.split('\n').filter((l) => l.includes('vigild.service'));
  assert.deepEqual(ours, [], r.out);
  assert.equal(r.code, 0, r.out);
});

void test(`systemd-analyze security rates vigild.service at or below ${MAX_EXPOSURE}`, async (t) => {
  const r = await analyze(['security', '--offline=true', '--no-pager', UNIT]);
  const m = /Overall exposure level for vigild\.service: (\d+(?:\.\d+)?) (\S+)/.exec(r.out);
  assert.ok(m?.[1] !== undefined, `no overall exposure line in:\n${r.out}`);
  const exposure = Number(m[1]);
  t.diagnostic(`overall exposure ${exposure} ${m[2] ?? ''}`);
  assert.ok(exposure <= MAX_EXPOSURE, `exposure ${exposure} > ${MAX_EXPOSURE}:\n${r.out}`);
  // Spot checks that the exceptions are the deliberate ones and nothing regressed silently.
  const failed = (name: string): boolean => r.out.split('\n').some((l) => l.startsWith('✗') && l.includes(name));
  assert.ok(failed('MemoryDenyWriteExecute='), 'V8 needs W+X memory: MemoryDenyWriteExecute must stay unset');
  assert.ok(!failed('NoNewPrivileges='));
  assert.ok(!failed('CapabilityBoundingSet=~CAP_SYS_ADMIN'));
  assert.ok(!failed('ProtectSystem='));
  assert.ok(!failed('RestrictAddressFamilies=~AF_PACKET'));
});

void test('the unit is Type=notify with a watchdog and no restart on a config error', async () => {
  const text = await readFile(UNIT, 'utf8');
  const settings = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) settings.set(m[1], [...settings.get(m[1]) ?? [], m[2]]);
  }
  const one = (k: string): string | undefined => settings.get(k)?.at(-1);
  assert.equal(one('Type'), 'notify');
  assert.equal(one('NotifyAccess'), 'main');
  assert.equal(one('WatchdogSec'), '30');
  assert.equal(one('Restart'), 'on-failure');
  assert.equal(one('RestartPreventExitStatus'), '2');
  assert.equal(one('User'), 'vigil');
  assert.deepEqual(one('SupplementaryGroups')?.split(/\s+/).sort(), ['render', 'video']);
  assert.equal(one('PrivateDevices'), 'no');
  assert.equal(one('DevicePolicy'), 'closed');
  assert.equal(settings.get('MemoryDenyWriteExecute'), undefined);
  // The launcher sizes the pool; a fixed value here would override it for every config.
  assert.ok(!(settings.get('Environment') ?? []).some((e) => e.startsWith('UV_THREADPOOL_SIZE')));
  // vigild's own shutdown deadline (5 s) must fit in systemd's.
  assert.ok(Number(one('TimeoutStopSec')) > 5);
});
