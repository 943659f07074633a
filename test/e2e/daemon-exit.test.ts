import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/shared.js';
import { spawnDaemon, writeConfig } from './daemon-harness.js';

/**
 * The real vigild, stopped by SIGTERM right as its streams deliver their first frames (the moment
 * its GStreamer bus is busiest), must leave with 0 and `stopped` as its last line, every time.
 * The process-level stress of the same exit path is test/video/exit-stress.test.ts.
 */
const CYCLES = 6;

void test(`vigild stopped right at the first frame exits 0, ${CYCLES} times out of ${CYCLES}`, { timeout: 90_000 }, async (t) => {
  const broker = await startMosquitto(t);
  const results: string[] = [];
  for (let i = 0; i < CYCLES; i++) {
    const dir = await tempDir(t);
    const config = await writeConfig(dir, {
      device: { id: `exit-${i}`, site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
      streams: [
        { id: 'a', uri: 'test://ball?width=320&height=240&fps=30', fps: 30 },
        { id: 'b', uri: 'test://smpte?width=320&height=240&fps=30', fps: 30 },
      ],
      telemetry: { interval_s: 60, prometheus: { enabled: false } },
    });
    const vigild = spawnDaemon(t, ['--config', config]);
    await vigild.waitForLine('a stream playing', (l) => l.msg === 'stream playing', 30_000);
    // 0 to 20 ms after the first frame, as the bug report saw it most.
    if (i % 2 === 1) await new Promise((resolve) => setTimeout(resolve, (i * 7) % 20));
    // Past the 4 s stop deadline plus the 2 s wait for GStreamer calls, a hang is a hang.
    const exit = await vigild.stop('SIGTERM', 12_000);
    results.push(`${exit.code ?? exit.signal} in ${Math.round(exit.ms)} ms`);
    assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, `cycle ${i}: ${vigild.stderr().slice(-500)}`);
    assert.equal(vigild.lines.at(-1)?.msg, 'stopped', `cycle ${i}: the last line says it stopped`);
  }
  t.diagnostic(`exits: ${results.join(', ')}`);
});
