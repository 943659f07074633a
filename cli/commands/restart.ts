import { Command } from 'commander';
import { z } from 'zod';
import { call, DEFAULT_SOCKET } from '../control-client.js';
import { parseOptions } from '../options.js';
import type { Output } from '../output.js';

const restartOptions = z.strictObject({ socket: z.string().min(1), json: z.boolean().optional() });

/**
 * `vigilctl restart`: the daemon stops gracefully and exits with code 75, which systemd's
 * Restart=on-failure answers with a fresh start (docs/live-management.md explains the choice).
 */
export function restartCommand(out: Output): Command {
  return new Command('restart')
    .description('stop the daemon gracefully so that systemd starts it again (loads config changes that need a restart)')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const opts = parseOptions(restartOptions, raw);
      const body = await call(opts.socket, { method: 'restart' });
      out.result(opts.json, body, 'vigild is restarting (it exits with code 75; systemd starts it again)');
    });
}
