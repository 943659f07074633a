import { Command } from 'commander';
import { call, DEFAULT_SOCKET } from '../control-client.js';
import type { Output } from '../output.js';

/** `vigilctl restart`: vigild stops cleanly and its supervisor (systemd) starts it again. A changing command: signed when remote. */
export function restartCommand(out: Output): Command {
  return new Command('restart')
    .description('restart the daemon (it replies, stops cleanly, and systemd starts it again)')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--json', 'the reply as JSON')
    .action(async (opts: { socket: string; json?: boolean }) => {
      const body = await call(opts.socket, { method: 'restart' });
      out.result(opts.json, body, 'restarting');
    });
}
