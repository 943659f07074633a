import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { DAEMON_MAIN } from '../e2e/daemon-harness.js';
import { repoRoot, sharedPath, tempDir, waitFor } from '../helpers/shared.js';

interface Vigild { out: () => string; err: () => string; exited: Promise<number | null>; kill: (s: NodeJS.Signals) => void }

/** `vigild` as the README's commands start it, in its own TMPDIR so that what it leaves there can be seen. */
function vigild(args: string[], tmp: string): Vigild {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')));
  const child = spawn(process.execPath, [DAEMON_MAIN, ...args], { cwd: repoRoot, env: { ...env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { out: () => out, err: () => err, exited, kill: (s) => child.kill(s) };
}

void test('README demo: runs, prints device online once, and leaves no state folder behind', { timeout: 60_000 }, async (t) => {
  const tmp = await tempDir(t);
  const demo = vigild(['--demo'], tmp);
  t.after(() => demo.kill('SIGKILL'));
  await waitFor('the demo\'s first [hub] lines', () => (/device online/.test(demo.out()) ? true : undefined), 30_000);
  assert.match(demo.out(), new RegExp(`^vigil demo: broker mqtt://127\\.0\\.0\\.1:\\d+, state ${tmp}/vigil-demo-`, 'm'));
  assert.ok((await readdir(tmp)).some((f) => f.startsWith('vigil-demo-')), 'the state folder is where it says');
  // A telemetry interval and the stream's start are enough for a second state message to arrive.
  await waitFor('motion events', () => (/\[hub\] vigil\/v1\/local\/demo\/(events|alerts)/.test(demo.out()) ? true : undefined), 30_000);
  demo.kill('SIGTERM');
  assert.equal(await demo.exited, 0, demo.err());
  assert.equal(demo.out().match(/device online/g)?.length, 1, demo.out());
  assert.deepEqual(await readdir(tmp), [], 'the demo removed its state folder');
});

void test('README demo: what is asked for by name must work — a model that cannot load, a missing source file', { timeout: 60_000 }, async (t) => {
  const tmp = await tempDir(t);
  const started = Date.now();
  const noModel = vigild(['--demo', '--model', path.join(tmp, 'nope.json')], tmp);
  assert.equal(await noModel.exited, 2);
  assert.match(noModel.err(), /--model .*nope\.json cannot be loaded: .*nope\.json/);
  // The manifest is there, the model file it names is not (no --models-dir): refused, not motion.
  const noFile = vigild(['--demo', '--model', 'models/yolox-nano.json'], tmp);
  assert.equal(await noFile.exited, 2);
  assert.match(noFile.err(), /--model models\/yolox-nano\.json cannot be loaded: .*ENOENT/);
  const noSource = vigild(['--demo', '--source', path.join(tmp, 'missing.mp4')], tmp);
  assert.equal(await noSource.exited, 2);
  assert.match(noSource.err(), /--source: no such file: .*missing\.mp4/);
  const fileUrl = vigild(['--demo', '--source', `file://${tmp}/missing.mp4`], tmp);
  assert.equal(await fileUrl.exited, 2);
  assert.ok(Date.now() - started < 30_000, 'refused at once, not retried');
  assert.deepEqual(await readdir(tmp), [], 'nothing left behind');

  // The README's model demo, as written there, starts (the model loads).
  const ok = vigild(['--demo', '--model', 'models/yolox-nano.json', '--models-dir', sharedPath('models')], tmp);
  t.after(() => ok.kill('SIGKILL'));
  await waitFor('the model demo', () => (/device online/.test(ok.out()) ? true : undefined), 30_000);
  assert.match(ok.out(), /, model models\/yolox-nano\.json\n/);
  ok.kill('SIGTERM');
  assert.equal(await ok.exited, 0, ok.err());
});
