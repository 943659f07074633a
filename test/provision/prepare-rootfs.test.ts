import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot, tempDir } from '../helpers/shared.js';
import { runScript } from './run-script.js';

const prepare = (args: string[]): Promise<{ code: number; out: string }> => runScript('prepare-rootfs.sh', args);

/** The first 20 bytes of an ELF file: enough for the script's e_machine check (183 AArch64, 62 x86-64). */
function elf(machine: number): Buffer {
  const b = Buffer.alloc(64);
  b.write('\x7fELF', 0, 'latin1');
  b.writeUInt16LE(machine, 18);
  return b;
}

/** A built app in miniature: the files the script copies, the real units and provision.sh. */
async function fakeApp(dir: string, gstMachine: number): Promise<string> {
  const put = async (rel: string, content: string | Buffer): Promise<void> => {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), content);
  };
  await put('dist/daemon/launcher.cjs', '// launcher');
  await put('dist/cli/main.js', '// vigilctl');
  await put('package.json', '{"name":"vigil"}');
  await put('models/yolox-nano.json', '{}');
  await put('node_modules/better-sqlite3/build/Release/better_sqlite3.node', elf(183));
  await put('node_modules/gstreamer-superficial/build/Release/gstreamer-superficial.node', elf(gstMachine));
  await put('node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node', elf(183));
  for (const rel of ['scripts/provision.sh', 'systemd/vigild.service', 'systemd/vigil-firstboot.service']) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await copyFile(path.join(repoRoot, rel), path.join(dir, rel));
  }
  return dir;
}

void test('prepare-rootfs: installs the app and both units, enabled by symlink; warns about a missing node and x86 addons', { timeout: 60_000 }, async (t) => {
  const rootfs = await tempDir(t, 'vigil-rootfs-');
  await mkdir(path.join(rootfs, 'etc'));
  const app = await fakeApp(await tempDir(t), 62);
  const bundle = path.join(await tempDir(t), 'cam-1.tar');
  await writeFile(bundle, 'not really a tar; only copied');

  const r = await prepare(['--rootfs', rootfs, '--app', app, '--bundle', bundle]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^WARN {2}usr\/bin\/node missing/m);
  assert.match(r.out, /^WARN {2}native addons not built for aarch64: node_modules\/gstreamer-superficial\/build\/Release\/gstreamer-superficial\.node \(/m);
  assert.doesNotMatch(r.out, /better_sqlite3\.node/, 'an aarch64 addon is not reported');
  assert.match(r.out, /done with 2 WARN/);

  for (const rel of ['dist/daemon/launcher.cjs', 'dist/cli/main.js', 'package.json', 'models/yolox-nano.json',
    'node_modules/better-sqlite3/build/Release/better_sqlite3.node']) {
    assert.deepEqual(await readFile(path.join(rootfs, 'opt/vigil', rel)), await readFile(path.join(app, rel)), rel);
  }
  assert.equal((await stat(path.join(rootfs, 'opt/vigil/scripts/provision.sh'))).mode & 0o777, 0o755);
  const system = path.join(rootfs, 'etc/systemd/system');
  for (const unit of ['vigild.service', 'vigil-firstboot.service']) {
    assert.equal(await readFile(path.join(system, unit), 'utf8'), await readFile(path.join(repoRoot, 'systemd', unit), 'utf8'));
    assert.equal(await readlink(path.join(system, 'multi-user.target.wants', unit)), `/etc/systemd/system/${unit}`);
  }
  const firstboot = await readFile(path.join(system, 'vigil-firstboot.service'), 'utf8');
  assert.match(firstboot, /^ConditionPathExists=\|\/etc\/vigil\/bundle\.tar$/m);
  assert.match(firstboot, /provision\.sh --bundle/);
  assert.match(firstboot, /^ExecStartPost=\/bin\/systemctl disable vigil-firstboot\.service$/m);
  const b = path.join(rootfs, 'etc/vigil/bundle.tar');
  assert.equal((await stat(b)).mode & 0o777, 0o600, 'the bundle holds the device key');

  // Again, with node in place and every addon aarch64: no warnings, the fstab line not doubled.
  await mkdir(path.join(rootfs, 'usr/bin'), { recursive: true });
  await writeFile(path.join(rootfs, 'usr/bin/node'), elf(183), { mode: 0o755 });
  const app2 = await fakeApp(await tempDir(t), 183);
  const again = await prepare(['--rootfs', rootfs, '--app', app2]);
  assert.equal(again.code, 0, again.out);
  assert.doesNotMatch(again.out, /^WARN/m);
  assert.match(again.out, /^OK {4}native addons are aarch64$/m);
  const fstab = await readFile(path.join(rootfs, 'etc/fstab'), 'utf8');
  assert.equal(fstab.match(/LABEL=VIGIL-BUNDLE \/media\/vigil-bundle /g)?.length, 1);
});

void test('prepare-rootfs: a directory without etc/ is refused before anything is written', async (t) => {
  const notRootfs = await tempDir(t);
  const r = await prepare(['--rootfs', notRootfs]);
  assert.equal(r.code, 2);
  assert.match(r.out, /not a root filesystem/);
});

void test('systemd-analyze verify accepts vigil-firstboot.service', () => {
  const r = spawnSync('systemd-analyze', ['verify', path.join(repoRoot, 'systemd', 'vigil-firstboot.service')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '');
});
