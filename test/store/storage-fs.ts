import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Real filesystems for the storage-fault tests: an ext4 image on a loop device, mounted with
 * `errors=remount-ro` as a device's data partition is. Needs root (CI runs as root); without it
 * the tests fail with this message rather than skip, since they are the only check of degraded mode.
 */

interface TestContext {
  after(fn: () => Promise<void> | void): void;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('storage fault tests need root: they mount an ext4 image on a loop device (run the suite as root, as CI does)');
  }
}

export interface LoopFs {
  /** Where the filesystem is mounted. */
  dir: string;
  /** /dev/loopN */
  device: string;
  /**
   * What a failing SD card or eMMC does: the kernel records an error and, with errors=remount-ro,
   * makes the filesystem read-only at once, open files included (`emergency_ro`). `mount -o
   * remount,ro` cannot do that while a file is open for writing (EBUSY), and on this kernel the
   * emergency state lasts until the filesystem is unmounted.
   */
  failReadOnly(): void;
  readOnly(): boolean;
}

const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export async function loopExt4(t: TestContext, sizeMb: number): Promise<LoopFs> {
  requireRoot();
  const base = await mkdtemp(path.join(tmpdir(), 'vigil-loopfs-'));
  const image = path.join(base, 'disk.img');
  const dir = path.join(base, 'mnt');
  run('truncate', ['-s', `${sizeMb}M`, image]);
  // No reserved blocks: vigild runs as root here, and a full disk must be full for it too.
  run('mkfs.ext4', ['-q', '-m', '0', image]);
  run('mkdir', ['-p', dir]);
  run('mount', ['-o', 'loop,errors=remount-ro', image, dir]);
  const device = run('findmnt', ['-n', '-o', 'SOURCE', dir]).trim();
  t.after(async () => {
    // Lazy: a store still open in this process must not keep the mount (and the loop device) for ever.
    try {
      run('umount', ['-l', dir]);
    } catch {
      // Already gone.
    }
    await rm(base, { recursive: true, force: true });
  });
  const name = path.basename(device);
  return {
    dir,
    device,
    failReadOnly: () => {
      run('sh', ['-c', `echo 'vigil storage fault test' > /sys/fs/ext4/${name}/trigger_fs_error`]);
    },
    readOnly: () => /(^|,)(ro|emergency_ro)(,|$)/.test(run('findmnt', ['-n', '-o', 'OPTIONS', dir]).trim()),
  };
}

/** Fills the filesystem holding `dir` with a ballast file until it is full; returns the file. */
export function fillDisk(dir: string): string {
  const file = path.join(dir, 'ballast');
  try {
    run('dd', ['if=/dev/zero', `of=${file}`, 'bs=64k', 'status=none']);
  } catch {
    // dd stops with ENOSPC: that is the point.
  }
  run('sync', ['-f', file]);
  return file;
}
