import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { threadPoolSize } from '../../daemon/threadpool.cjs';
import { tempDir, waitFor } from '../helpers/shared.js';
import { spawnDaemon, writeConfig } from './daemon-harness.js';

/** Threads named "node": the main thread, V8's platform workers and libuv's pool (GStreamer's have other names). */
function nodeThreads(pid: number): number {
  return readdirSync(`/proc/${pid}/task`)
    .filter((t) => {
      try {
        return readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === 'node';
      } catch {
        return false; // the thread ended while we looked
      }
    }).length;
}

test('vigild sizes its libuv pool for its streams before anything uses the pool', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const streams = Array.from({ length: 8 }, (_, i) => ({ id: `s${i}`, uri: 'test://ball?width=160&height=120&fps=5', fps: 1 }));
  const config = await writeConfig(dir, {
    device: { id: 'pool', site: 'lab' }, storage: { dir: path.join(dir, 'state') },
    mqtt: { url: 'mqtt://127.0.0.1:1' }, streams,
  });
  const vigild = spawnDaemon(t, ['--config', config]);
  await vigild.waitForLine('vigild running', (l) => l.msg === 'vigild running', 30_000);
  const want = threadPoolSize(8, 0);
  assert.ok(want > 4 + 8, 'the test needs a pool far above the default of 4 to tell them apart');
  // The pool starts all its threads at its first use, which the streams' bus polls guarantee.
  const seen = await waitFor('the thread pool to start', () => {
    const n = nodeThreads(vigild.child.pid ?? 0);
    return n >= want ? n : undefined;
  }, 20_000);
  t.diagnostic(`${seen} "node" threads for a pool of ${want}`);
  const exit = await vigild.stop();
  assert.equal(exit.code, 0);
});
