import { CommanderError } from 'commander';
import { errorMessage } from '../daemon/errors.js';
import { CliError, EXIT } from './errors.js';
import type { Output } from './output.js';
import { buildProgram } from './program.js';
import { connectHub } from './remote/hub.js';
import { hubOptions, inRouteScope, type RemoteOptions } from './remote/route.js';
import { retainedStates } from './remote/states.js';
import { table } from './table.js';

/** The typed error → exit code mapping, in one place: the only place that decides how vigilctl ends. */
function exitCodeOf(err: unknown, out: Output): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (err instanceof CliError) {
    out.error(`vigilctl: ${err.message}`);
    return err.exitCode;
  }
  out.error(`vigilctl: ${errorMessage(err)}`);
  return EXIT.failed;
}

/** One invocation against one device (or the local socket), with its own remote route and connection. */
async function runOne(args: readonly string[], out: Output): Promise<number> {
  try {
    await inRouteScope(() => buildProgram(out).parseAsync([...args], { from: 'user' }));
    return EXIT.ok;
  } catch (err) {
    return exitCodeOf(err, out);
  }
}

/** Global options that take a value (cli/remote/options.ts), so that the scan below can skip it. */
const VALUE_OPTIONS = new Set(['--device', '--hub', '--ca', '--cert', '--key', '--operator-key', '--timeout']);

/** The value of `--device`, in either spelling, among the global options before the command. */
function deviceArg(args: readonly string[]): { value: string; index: number; joined: boolean } | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--device') return args[i + 1] !== undefined ? { value: args[i + 1] ?? '', index: i + 1, joined: false } : null;
    if (a.startsWith('--device=')) return { value: a.slice('--device='.length), index: i, joined: true };
    if (!a.startsWith('-')) break; // the command: global options come before it
    if (VALUE_OPTIONS.has(a)) i += 1;
  }
  return null;
}

interface Captured {
  out: Output;
  lines: string[];
  errors: string[];
}

function capture(): Captured {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines, errors,
    out: {
      raw: (t) => lines.push(t),
      result: (json, v, h) => lines.push(json ? JSON.stringify(v) : h),
      error: (t) => errors.push(t),
    },
  };
}

/**
 * `--device SITE/*`: the command runs once per device of the site that has a retained state on the
 * hub, a few at a time, each exactly as `--device SITE/DEVICE` would run it; then one summary row
 * per device (or, with `--json`, one array). The exit code is the worst of theirs.
 */
async function fanOut(args: readonly string[], arg: { value: string; index: number; joined: boolean }, out: Output): Promise<number> {
  const [site = '', device = ''] = arg.value.split('/');
  if (device !== '*' || site.length === 0 || /[+#/]/.test(site)) {
    throw new CliError(`--device expects SITE/DEVICE or SITE/* (every device of a site), not "${arg.value}"`, EXIT.usage);
  }
  const probe = buildProgram(capture().out);
  probe.parseOptions([...args]);
  // parseOptions does not apply the options' environment variables; the parse of each run does.
  const o = probe.opts<RemoteOptions>();
  const env = process.env;
  const hub = hubOptions({ ...o, hub: o.hub ?? env['VIGIL_HUB'], ca: o.ca ?? env['VIGIL_HUB_CA'], cert: o.cert ?? env['VIGIL_HUB_CERT'],
    key: o.key ?? env['VIGIL_HUB_KEY'] } as RemoteOptions);
  const { client } = await connectHub(hub);
  const states = await retainedStates(client, site === '*' ? '+' : site, '+', hub.timeoutMs)
    .finally(() => client.endAsync(true).catch(() => undefined));
  if (states.length === 0) throw new CliError(`the hub has no device of site "${site}" (no retained state message)`, EXIT.unreachable);

  const results: { device: string; code: number; lines: string[]; errors: string[] }[] = [];
  const queue = [...states];
  const worker = async (): Promise<void> => {
    for (let s = queue.shift(); s; s = queue.shift()) {
      const name = `${s.site}/${s.device}`;
      const one = [...args];
      one[arg.index] = arg.joined ? `--device=${name}` : name;
      const c = capture();
      const code = await runOne(one, c.out);
      results.push({ device: name, code, lines: c.lines, errors: c.errors });
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, states.length) }, worker));
  results.sort((a, b) => a.device.localeCompare(b.device));

  const json = args.includes('--json');
  if (json) {
    out.raw(JSON.stringify(results.map((r) => {
      const text = r.lines.join('\n');
      let output: unknown = text;
      try {
        output = JSON.parse(text);
      } catch {
        // not JSON: kept as text
      }
      return { device: r.device, exit: r.code, ...(r.code === 0 ? { output } : { error: r.errors.join('\n').replace(/^vigilctl: /, '') }) };
    })));
  } else {
    out.raw(table([
      ['DEVICE', 'EXIT', 'RESULT'],
      ...results.map((r) => [r.device, String(r.code),
        (r.code === 0 ? r.lines.join('\n').split('\n')[0] ?? '' : (r.errors[0] ?? '').replace(/^vigilctl: /, '')).slice(0, 160)]),
    ]));
  }
  return Math.max(...results.map((r) => r.code));
}

/** vigilctl with `args` (what follows the program name): the exit code, with errors written to `out`. */
export async function runVigilctl(args: readonly string[], out: Output): Promise<number> {
  const arg = deviceArg(args);
  if (arg?.value.includes('*')) {
    try {
      return await fanOut(args, arg, out);
    } catch (err) {
      return exitCodeOf(err, out);
    }
  }
  return runOne(args, out);
}
