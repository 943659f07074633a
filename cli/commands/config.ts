import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { z } from 'zod';
import { overridesFromEnv } from '../../daemon/config/load.js';
import { loadCheckedConfig } from '../../daemon/config/preflight.js';
import { configSchema } from '../../daemon/config/schema.js';
import { ConfigError } from '../../daemon/errors.js';
import type { ConfigDifference } from '../../daemon/manage/config-view.js';
import { call, DEFAULT_SOCKET } from '../control-client.js';
import { CliError, EXIT } from '../errors.js';
import { describeChange, parseOptions, parseValue } from '../options.js';
import type { Output } from '../output.js';

const liveOptions = z.strictObject({ socket: z.string().min(1), json: z.boolean().optional() });
const diffOptions = z.strictObject({ socket: z.string().min(1), json: z.boolean().optional(), candidate: z.string().min(1).optional() });

const show = (v: unknown): string => (v === undefined ? '(absent)' : JSON.stringify(v));

export function configCommand(out: Output): Command {
  const cmd = new Command('config').description('inspect, validate and change configuration');
  cmd.command('validate')
    .description('validate a vigil.yaml; every problem is listed with its path')
    .argument('[file]', 'configuration file', process.env['VIGIL_CONFIG'] ?? '/etc/vigil/vigil.yaml')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { json?: boolean }) => {
      try {
        // The daemon's own preflight: the same checks as `vigild --check-config` and its start.
        const cfg = await loadCheckedConfig(file, overridesFromEnv());
        out.result(opts.json, { valid: true, file, streams: cfg.streams.length, rules: cfg.rules.length },
          `${file}: valid (${cfg.streams.length} streams, ${cfg.rules.length} rules)`);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        out.result(opts.json, { valid: false, file, problems: err.problems }, err.message);
        throw new CliError(`${file}: invalid`, EXIT.usage);
      }
    });
  cmd.command('get')
    .description('a setting of the running daemon (whole config without a path); e.g. mqtt.url, streams.gate.fps')
    .argument('[path]', 'dotted path; list items by id or position')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--json', 'machine-readable output')
    .action(async (path: string | undefined, raw: unknown) => {
      const opts = parseOptions(liveOptions, raw);
      const body = await call(opts.socket, { method: 'config.get', params: path !== undefined ? { path } : {} }) as { value: unknown };
      out.result(opts.json, body, typeof body.value === 'string' ? body.value : JSON.stringify(body.value, null, 2));
    });
  cmd.command('set')
    .description('change a setting: validated, saved to the config file, applied live where the key allows (null restores the default)')
    .argument('<path>', 'dotted path, e.g. rules.door.min_score')
    .argument('<value>', 'the value in YAML: 10, true, [person, car], null')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--json', 'machine-readable output')
    .action(async (path: string, value: string, raw: unknown) => {
      const opts = parseOptions(liveOptions, raw);
      // An empty argument is a slip, not a request to restore the default (that is an explicit null).
      const parsed = value.trim() === '' ? undefined : parseValue(value, path);
      if (parsed === undefined) throw new CliError(`${path}: give a value (null restores the default)`, EXIT.usage);
      const body = await call(opts.socket, { method: 'config.set', params: { path, value: parsed } }, 30_000);
      out.result(opts.json, body, describeChange(body));
    });
  cmd.command('diff')
    .description('what differs between the running config and the file on disk (or a candidate file)')
    .option('--candidate <file>', 'compare with this file instead of the daemon\'s own')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--json', 'machine-readable output')
    .action(async (raw: unknown) => {
      const opts = parseOptions(diffOptions, raw);
      const params = opts.candidate !== undefined ? { text: readFileSync(opts.candidate, 'utf8') } : {};
      const body = await call(opts.socket, { method: 'config.diff', params }) as { differences: ConfigDifference[] };
      out.result(opts.json, body, body.differences.length === 0 ? 'no differences' : body.differences.map((d) =>
        `${d.path}: running ${show(d.running)}, ${opts.candidate !== undefined ? 'candidate' : 'file'} ${show(d.other)}`).join('\n'));
    });
  cmd.command('schema')
    .description('print the JSON Schema of vigil.yaml (for editors and provisioning tools)')
    .action(() => {
      out.raw(JSON.stringify(z.toJSONSchema(configSchema, { io: 'input' }), null, 2));
    });
  return cmd;
}
