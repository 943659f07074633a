import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A small tmpfs for the disk-budget tests: a filesystem that really fills (ENOSPC, SQLITE_FULL)
 * in milliseconds. Needs root (CI runs as root); without it the tests fail with this message
 * rather than skip, since they are the only check that eviction frees a full disk.
 */
export async function smallTmpfs(t: { after(fn: () => Promise<void> | void): void }, sizeMb: number): Promise<string> {
  if (process.getuid?.() !== 0) throw new Error('the disk budget tests need root: they mount a small tmpfs (run the suite as root, as CI does)');
  const dir = await mkdtemp(path.join(tmpdir(), 'vigil-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir]);
  t.after(async () => {
    try {
      // Lazy: a store still open in this process must not keep the mount for ever.
      execFileSync('umount', ['-l', dir]);
    } catch {
      // Already gone.
    }
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the filesystem holding `dir` with a file of zeros until it is full (another writer on the partition); returns the file. */
export function fillUp(dir: string, name = 'foreign-filler'): string {
  const file = path.join(dir, name);
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=16k', 'status=none'], { stdio: 'ignore' });
  } catch {
    // dd stops with ENOSPC: that is the point.
  }
  return file;
}
