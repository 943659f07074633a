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

/** A temporary directory removed after the test, however it ends. */
export async function tempDir(t: { after(fn: () => Promise<void> | void): void }, prefix = 'vigil-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
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
