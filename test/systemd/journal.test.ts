import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../daemon/node-flags.cjs';
import { DAEMON_MAIN, writeConfig } from '../e2e/daemon-harness.js';
import { tempDir, waitFor } from '../helpers/shared.js';

/** Runs vigild with stdout on `file`, until `until` appears in it; returns the raw lines. */
async function runTo(t: Parameters<typeof tempDir>[0], dir: string, file: string, journal: boolean, until: RegExp): Promise<string[]> {
  const config = await writeConfig(dir, {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: path.join(dir, 'state') },
    mqtt: { url: 'mqtt://127.0.0.1:1' }, control: { enabled: false },
    streams: [{ id: 'yard', uri: 'test://ball?width=160&height=120&fps=5' }],
  });
  const fd = openSync(file, 'w');
  const st = fstatSync(fd);
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], ...DAEMON_ENV, ...(journal ? { JOURNAL_STREAM: `${st.dev}:${st.ino}` } : {}) };
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, DAEMON_MAIN, '--config', config], { stdio: ['ignore', fd, 'pipe'], env });
  closeSync(fd);
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitFor('the daemon to log its start and a warning', () => (until.test(readFileSync(file, 'utf8')) ? true : undefined), 20_000);
  child.kill('SIGTERM');
  await exited;
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
}

test('under systemd (stdout is the journal stream) each JSON line starts with its syslog priority', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-journal-');
  // The MQTT broker at port 1 is unreachable: the uplink warns, so both info and warn lines appear.
  const lines = await runTo(t, dir, path.join(dir, 'journal.out'), true, /cannot reach the MQTT broker/);
  const byLevel = new Map<string, string>();
  for (const line of lines) {
    const m = /^<(\d)>(\{.*\})$/.exec(line);
    assert.ok(m, `a line without a priority prefix: ${line}`);
    const level = (JSON.parse(m[2] ?? '') as { level: string }).level;
    byLevel.set(level, m[1] ?? '');
  }
  assert.equal(byLevel.get('info'), '6');
  assert.equal(byLevel.get('warn'), '4');
});

test('stdout redirected elsewhere (JOURNAL_STREAM names another file) stays plain JSON lines', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-journal-');
  const lines = await runTo(t, dir, path.join(dir, 'plain.out'), false, /vigild running/);
  for (const line of lines) assert.ok(line.startsWith('{"level":"'), line);
});
