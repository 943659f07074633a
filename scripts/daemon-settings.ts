import { spawnSync } from 'node:child_process';

/**
 * Runs this script again with vigild's thread pool size and malloc settings unless it already has
 * them: both are read once, when the process starts, and what a benchmark measures must run as
 * vigild runs (they make inference faster alone too). Returns only in a process that has them.
 */
export async function runWithDaemonSettings(): Promise<void> {
  const { DAEMON_ENV, missingMallocTunables } = await import('../daemon/node-flags.cjs');
  if (process.env['UV_THREADPOOL_SIZE'] !== undefined && missingMallocTunables(process.env).length === 0) return;
  const again = spawnSync(process.execPath, process.argv.slice(1),
    { stdio: 'inherit', env: { ...process.env, UV_THREADPOOL_SIZE: process.env['UV_THREADPOOL_SIZE'] ?? '16', ...DAEMON_ENV } });
  process.exit(again.status ?? 1);
}
