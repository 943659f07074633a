import { Command } from 'commander';
import { z } from 'zod';
import type { Result } from '../../daemon/control/results.js';
import { call, DEFAULT_SOCKET } from '../control-client.js';
import { parseOptions } from '../options.js';
import type { Output } from '../output.js';

const tailOptions = z.strictObject({
  socket: z.string().min(1),
  json: z.boolean().optional(),
  lines: z.coerce.number().int().min(1).max(2000).default(50),
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).optional(),
  follow: z.boolean().optional(),
  interval: z.coerce.number().positive().default(1),
  /** For scripts and tests: stop following after this many polls. */
  polls: z.coerce.number().int().positive().optional(),
});

type Tail = Result<'logs.tail'>;
type LogEntry = Tail['entries'][number];

const RESERVED = new Set(['level', 'time', 'msg', 'pid', 'component']);

/** One log line for people: time, level, component, message, then the other fields. */
function human(e: LogEntry): string {
  const l = e.line;
  const text = (v: unknown): string => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
  const extra = Object.entries(l).filter(([k]) => !RESERVED.has(k)).map(([k, v]) => `${k}=${text(v)}`);
  return [text(l['time']), text(l['level']).toUpperCase().padEnd(5), l['component'] !== undefined ? `[${text(l['component'])}]` : '',
    text(l['msg']), ...extra].filter((p) => p !== '').join(' ');
}

/** `vigilctl logs tail`: the daemon's newest log lines (kept in memory, redacted as in the journal). */
export function logsCommand(out: Output): Command {
  const cmd = new Command('logs').description('the running daemon\'s recent log');
  cmd.command('tail')
    .description('print the newest log lines; --follow keeps printing new ones')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--json', 'one JSON log object per line')
    .option('-n, --lines <n>', 'how many of the newest lines', '50')
    .option('--level <level>', 'only lines at this level or above (trace, debug, info, warn, error, fatal)')
    .option('-f, --follow', 'keep polling for new lines')
    .option('--interval <s>', 'seconds between polls with --follow', '1')
    .option('--polls <n>', 'with --follow: stop after this many polls')
    .action(async (raw: unknown) => {
      const opts = parseOptions(tailOptions, raw);
      const print = (t: Tail): void => {
        if (t.dropped > 0) out.raw(`… ${t.dropped} lines no longer held by the daemon`);
        for (const e of t.entries) out.raw(opts.json ? JSON.stringify(e.line) : human(e));
      };
      const level = opts.level !== undefined ? { level: opts.level } : {};
      let tail = await call(opts.socket, { method: 'logs.tail', params: { limit: opts.lines, ...level } });
      print(tail);
      for (let i = 0; opts.follow && (opts.polls === undefined || i < opts.polls); i++) {
        await new Promise((r) => setTimeout(r, opts.interval * 1000));
        // Pages forward until caught up, so a burst between two polls is printed whole.
        do {
          tail = await call(opts.socket, { method: 'logs.tail', params: { after: tail.next, limit: 2000, ...level } });
          print(tail);
        } while (tail.entries.length === 2000);
      }
    });
  return cmd;
}
