import { Command, InvalidArgumentError } from 'commander';
import { call, DEFAULT_SOCKET } from '../control-client.js';
import type { Output } from '../output.js';
import { human } from './status.js';

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
};

/** `vigilctl top`: `status` redrawn in place until interrupted (or for `--iterations`, for scripts and tests). */
export function topCommand(out: Output): Command {
  return new Command('top')
    .description('live view of the running daemon, refreshed in place')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--interval <s>', 'seconds between refreshes', positive, 2)
    .option('--iterations <n>', 'stop after this many refreshes', positive)
    .action(async (opts: { socket: string; interval: number; iterations?: number }) => {
      const clear = process.stdout.isTTY ? '\x1b[2J\x1b[H' : '';
      for (let i = 0; opts.iterations === undefined || i < opts.iterations; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, opts.interval * 1000));
        const body = await call(opts.socket, { method: 'status' });
        out.raw(`${clear}${human(body)}\n`);
      }
    });
}
