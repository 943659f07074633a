import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { call } from '../../cli/control-client.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { spawnDaemon, writeConfig } from './daemon-harness.js';

interface StreamRow { id: string; state: string }

test('SIGHUP reloads vigil.yaml: streams change live, other settings are named as needing a restart, a bad file changes nothing', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-hup-');
  const base = {
    device: { id: 'gate-1', site: 'works' },
    storage: { dir: path.join(dir, 'state') },
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    streams: [{ id: 'yard', uri: 'test://ball?width=160&height=120&fps=5' }],
  };
  const config = await writeConfig(dir, base);
  const socket = path.join(dir, 'vigild.sock');
  const vigild = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('vigild running', (l) => l.msg === 'vigild running');
  const streams = (): Promise<StreamRow[]> => call(socket, { method: 'streams.list' });

  // A stream added and a setting that needs a restart changed, by editing the file and sending SIGHUP.
  await writeConfig(dir, {
    ...base, telemetry: { interval_s: 7 },
    streams: [...base.streams, { id: 'gate', uri: 'test://smpte?width=160&height=120&fps=5' }],
  });
  let from = vigild.lines.length;
  vigild.child.kill('SIGHUP');
  const reloaded = await vigild.waitForLine('the reload', (l) => l['signal'] === 'SIGHUP', 15_000, from);
  assert.match(reloaded.msg, /reloaded/, JSON.stringify(reloaded));
  assert.deepEqual(reloaded['applied'], ['stream gate started']);
  assert.ok((reloaded['restart_required'] as string[]).some((p) => p.startsWith('telemetry')), JSON.stringify(reloaded));
  await waitFor('the added stream playing', async () => ((await streams()).find((s) => s.id === 'gate')?.state === 'playing' ? true : undefined), 10_000);

  // A file the start would refuse changes nothing; the daemon says why and keeps running.
  const good = await readFile(config, 'utf8');
  await writeFile(config, good.replace('test://smpte', 'nosuch://camera'));
  from = vigild.lines.length;
  vigild.child.kill('SIGHUP');
  const refused = await vigild.waitForLine('the refusal', (l) => l['signal'] === 'SIGHUP', 15_000, from);
  assert.equal(refused.level, 'error', JSON.stringify(refused));
  assert.match(String(refused['err']), /streams\[1\]\.uri/);
  assert.deepEqual((await streams()).map((s) => s.id).sort(), ['gate', 'yard']);
  assert.equal(vigild.child.exitCode, null, 'still running');

  const exit = await vigild.stop('SIGTERM');
  assert.equal(exit.code, 0, vigild.stderr());
});
