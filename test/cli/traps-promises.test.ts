import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Output } from '../../cli/output.js';
import { runVigilctl } from '../../cli/run.js';
import { DAEMON_MAIN, writeConfig } from '../e2e/daemon-harness.js';
import { repoRoot, tempDir } from '../helpers/shared.js';

void test('vigilctl keygen --out DIR/x.pem makes DIR (private to its owner)', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'fresh', 'vigil', 'alice.pem');
  const err: string[] = [];
  const out: Output = { raw: () => undefined, result: () => undefined, error: (s) => err.push(s) };
  assert.equal(await runVigilctl(['keygen', '--out', file, '--name', 'alice'], out), 0, err.join('\n'));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
});

void test('node dist/scripts/asyncapi.js --help prints its usage and writes nothing; an unknown argument is exit 2', () => {
  const file = path.join(repoRoot, 'docs', 'asyncapi.json');
  const before = statSync(file).mtimeMs;
  const text = readFileSync(file, 'utf8');
  const help = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'scripts', 'asyncapi.js'), '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: node dist\/scripts\/asyncapi\.js \[--check\]/);
  const bad = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'scripts', 'asyncapi.js'), '--chek'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown argument --chek/);
  assert.equal(statSync(file).mtimeMs, before, 'docs/asyncapi.json was rewritten');
  assert.equal(readFileSync(file, 'utf8'), text);
});

void test('vigild --state-dir under /proc fails at once naming the folder (Node\'s recursive mkdir spun there for ever)', async (t) => {
  const dir = await tempDir(t);
  const config = await writeConfig(dir, { device: { id: 'cam-1', site: 'lab' }, mqtt: { url: 'mqtt://127.0.0.1:1' }, telemetry: { prometheus: { enabled: false } } });
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VIGIL_')));
  const started = Date.now();
  // A kill after 20 s would show up as a signal, not an exit code.
  const r = spawnSync(process.execPath, [DAEMON_MAIN, '--config', config, '--state-dir', '/proc/vigil-test/state', '--socket', path.join(dir, 's.sock')],
    { env, encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
  assert.equal(r.signal, null, `vigild did not exit by itself: ${r.stdout}${r.stderr}`);
  assert.equal(r.status, 1);
  assert.match(r.stdout + r.stderr, /cannot create the storage directory: cannot create \/proc\/vigil-test \(for \/proc\/vigil-test\/state\): ENOENT/);
  assert.ok(Date.now() - started < 15_000);
});
