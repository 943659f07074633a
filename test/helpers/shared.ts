import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../daemon/errors.js';

/** Repository root, found from this file's location in either test/ or dist/test/. */
export const repoRoot = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();

/** Read-only shared test material (models, images, video); VIGIL_SHARED_DIR overrides. */
export const sharedDir = process.env['VIGIL_SHARED_DIR'] ?? path.resolve(repoRoot, '..', 'shared');

export const sharedPath = (...parts: string[]): string => path.join(sharedDir, ...parts);

type HookTarget = { after(fn: () => Promise<void> | void): void };

// node:test runs a test's after-hooks in the order they were added, so a directory made before a
// process is spawned would be removed while that process still writes into it (ENOTEMPTY in CI).
// Whatever writes into a test's directories registers its stop here; tempDir's hook runs them first.
const stopsBeforeRemoval = new WeakMap<object, (() => Promise<void>)[]>();

/** Registers `stop` to run before any of this test's temporary directories is removed (and as a hook of its own). */
export function stopBeforeTempDirsRemoved(t: HookTarget, stop: () => Promise<void>): void {
  const stops = stopsBeforeRemoval.get(t) ?? [];
  stops.push(stop);
  stopsBeforeRemoval.set(t, stops);
  t.after(stop);
}

/** A temporary directory removed after the test, however it ends, once what writes into it has stopped. */
export async function tempDir(t: HookTarget, prefix = 'vigil-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  t.after(async () => {
    for (const stop of stopsBeforeRemoval.get(t) ?? []) await stop();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });
  return dir;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr === undefined ? '' : `: ${errorMessage(lastErr)}`}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
