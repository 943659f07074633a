import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { subscribe } from '../uplink/harness.js';
import { MODELS_DIR, makeDogClip, manifestPath, spawnDaemon, writeConfig } from './daemon-harness.js';

test('vigild --config F runs in the foreground, logs JSON lines, and exits 0 within 5 s of SIGTERM', async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-fg-');
  const clip = await makeDogClip(dir);
  const broker = await startMosquitto(t);
  const hub = await subscribe(t, broker.url, 'vigil/v1/+/+/alerts');
  const config = await writeConfig(dir, {
    device: { id: 'gate-1', site: 'works' },
    storage: { dir: path.join(dir, 'state') },
    mqtt: { url: broker.url },
    models_dir: MODELS_DIR,
    models: [{ name: 'nanodet', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    streams: [
      { id: 'gate', uri: pathToFileURL(clip).href, model: 'nanodet', loop: true },
      { id: 'yard', uri: 'test://ball?width=320&height=240&fps=15' },
    ],
    rules: [{ id: 'dog', stream: 'gate', kind: 'presence', classes: ['dog'], min_score: 0.3, cooldown_s: 0 }],
  });
  const vigild = spawnDaemon(t, ['--config', config]);

  const running = await vigild.waitForLine('vigild running', (l) => l.msg === 'vigild running');
  // Foreground: the process we started is the daemon; it did not fork away and is still there.
  assert.equal(running.pid, vigild.child.pid);
  assert.equal(running['streams'], 2);
  for (const stream of ['gate', 'yard']) {
    await vigild.waitForLine(`${stream} playing`, (l) => l.msg === 'stream playing' && l['stream'] === stream);
  }
  await waitFor('two alerts from the model stream', () => hub.messages.length >= 2 || undefined, 20_000);
  assert.equal(vigild.child.exitCode, null);

  const exit = await vigild.stop('SIGTERM');
  t.diagnostic(`exit ${exit.code} ${exit.ms.toFixed(0)} ms after SIGTERM`);
  assert.equal(exit.code, 0, vigild.stderr());
  assert.equal(exit.signal, null);
  assert.ok(exit.ms < 5000, `exited ${exit.ms.toFixed(0)} ms after SIGTERM`);

  assert.deepEqual(vigild.badLines, [], 'every stdout line is JSON');
  assert.equal(vigild.stdout().endsWith('\n'), true, 'the last line is complete');
  for (const l of vigild.lines) {
    assert.match(l.level, /^(trace|debug|info|warn|error|fatal)$/);
    assert.ok(!Number.isNaN(Date.parse(l.time)), `time ${l.time}`);
    assert.equal(l.pid, vigild.child.pid);
  }
  const msgs = vigild.lines.map((l) => l.msg);
  const stopping = msgs.indexOf('stopping');
  assert.ok(stopping > msgs.indexOf('vigild running'));
  assert.equal(vigild.lines[stopping]?.['signal'], 'SIGTERM');
  assert.equal(msgs.at(-1), 'stopped', 'the last line says it stopped');
  for (const stream of ['gate', 'yard']) {
    assert.ok(vigild.lines.slice(stopping).some((l) => l.msg === 'stream stopped' && l['stream'] === stream), `${stream} stopped`);
  }
  assert.ok(!vigild.lines.some((l) => l.msg === 'shutdown deadline passed: exiting anyway'));
  assert.ok(!vigild.lines.some((l) => l.level === 'error' || l.level === 'fatal'),
    JSON.stringify(vigild.lines.filter((l) => l.level === 'error' || l.level === 'fatal')));
});
