import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';
import { CliError } from '../../cli/errors.js';
import type { AppStatus } from '../../daemon/app.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { spawnDaemon, writeConfig } from './daemon-harness.js';

function capture(): { out: Output; lines: string[] } {
  const lines: string[] = [];
  return { out: { raw: (t) => lines.push(t), result: (_j, _v, h) => lines.push(h), error: (t) => lines.push(t) }, lines };
}

async function status(socket: string, json: boolean): Promise<string> {
  const { out, lines } = capture();
  await buildProgram(out).parseAsync(['status', '--socket', socket, ...(json ? ['--json'] : [])], { from: 'user' });
  return lines.join('\n');
}

test('vigilctl status reads a running vigild over its socket; exit 3 once it is gone', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const socket = path.join(dir, 'vigild.sock');
  const config = await writeConfig(dir, {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
    streams: [{ id: 'pattern', uri: 'test://ball?width=320&height=240&fps=10', fps: 5 }],
    telemetry: { interval_s: 1, prometheus: { enabled: false } },
  });
  const vigild = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('vigild running', (l) => l.msg === 'vigild running', 30_000);

  const st = await waitFor('the stream playing and the uplink connected', async () => {
    const s = JSON.parse(await status(socket, true)) as AppStatus;
    return s.streams[0]?.state === 'playing' && s.streams[0].framesPulled > 0 && s.uplink?.connected ? s : undefined;
  }, 20_000, 100);
  assert.deepEqual(st.device, { id: 'cam-1', site: 'lab' });
  assert.equal(st.streams.length, 1);
  assert.equal(st.streams[0]?.decoder, null, 'a test source needs no decoder');
  assert.equal(st.uplink?.url, broker.url);

  // The health line appears with the first telemetry report (interval 1 s).
  const human = await waitFor('a health line', async () => {
    const text = await status(socket, false);
    return text.includes('\nhealth: cpu ') ? text : undefined;
  }, 10_000, 200);
  assert.match(human, /\nhealth: cpu (\d+%|-) \(vigild (\d+%|-)\) {2}rss \d+ MiB {2}temp .* disk free \d+\.\d GiB/);
  assert.match(human, /^device lab\/cam-1 {2}vigil \d+\.\d+\.\d+/);
  assert.match(human, /uplink: connected mqtt:\/\/127\.0\.0\.1:\d+/);
  assert.match(human, /\npattern +playing +- +- +- +\d+\.\d/);

  const { out, lines } = capture();
  await buildProgram(out).parseAsync(['top', '--socket', socket, '--interval', '0.1', '--iterations', '2'], { from: 'user' });
  assert.equal(lines.filter((l) => l.includes('device lab/cam-1')).length, 2, 'two refreshes');

  const exit = await vigild.stop();
  assert.equal(exit.code, 0);
  await assert.rejects(status(socket, true), (err: unknown) => err instanceof CliError && err.exitCode === 3);
});
