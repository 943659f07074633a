import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { z } from 'zod';
import type { Result } from '../../daemon/control/results.js';
import { call, DEFAULT_SOCKET } from '../control-client.js';
import { CliError, EXIT } from '../errors.js';
import { describeChange, parseAssignments, parseOptions, parseSpec } from '../options.js';
import type { Output } from '../output.js';

const common = { socket: z.string().min(1), json: z.boolean().optional() };
const plainOptions = z.strictObject(common);
const listOptions = z.strictObject({ ...common, stream: z.string().min(1).optional() });
const addOptions = z.strictObject({ ...common, file: z.string().min(1).optional() });

function withCommon(cmd: Command): Command {
  return cmd.option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET).option('--json', 'machine-readable output');
}

/** `vigilctl rules …`: rules of the running daemon, applied between two frames without restarting the stream. */
export function rulesCommand(out: Output): Command {
  const cmd = new Command('rules').description('list, add, remove and change rules (live, saved to the config)');
  const report = (json: boolean | undefined, r: Result<'rules.add'>): void => out.result(json, r, describeChange(r));

  withCommon(cmd.command('list').description('rules of the running config'))
    .option('--stream <id>', 'only the rules of this stream')
    .action(async (raw: unknown) => {
      const opts = parseOptions(listOptions, raw);
      const rules = await call(opts.socket, { method: 'rules.list', params: opts.stream !== undefined ? { stream: opts.stream } : {} });
      out.result(opts.json, rules, rules.length === 0 ? 'no rules' : rules.map((r) =>
        `${r.id}  ${r.kind}  stream ${r.stream}  classes ${r.classes.join(',')}  severity ${r.severity}`).join('\n'));
    });

  withCommon(cmd.command('add').description('add a rule, given as YAML or JSON (same keys as in vigil.yaml)'))
    .argument('[spec]', 'the rule, e.g. \'{id: door, stream: gate, kind: zone, classes: [person], zone: [[0,0],[100,0],[100,100]]}\'')
    .option('--file <path>', 'read the rule from this YAML or JSON file instead')
    .action(async (spec: string | undefined, raw: unknown) => {
      const opts = parseOptions(addOptions, raw);
      if ((spec === undefined) === (opts.file === undefined)) throw new CliError('give the rule inline or with --file (one of them)', EXIT.usage);
      const text = opts.file !== undefined ? readFileSync(opts.file, 'utf8') : spec ?? '';
      report(opts.json, await call(opts.socket, { method: 'rules.add', params: { rule: parseSpec(text, 'rule') } }));
    });

  withCommon(cmd.command('remove').description('remove a rule; its open activities end'))
    .argument('<id>', 'rule id')
    .action(async (id: string, raw: unknown) => {
      const opts = parseOptions(plainOptions, raw);
      report(opts.json, await call(opts.socket, { method: 'rules.remove', params: { id } }));
    });

  withCommon(cmd.command('set').description('change settings of a rule (`key=null` restores a default)'))
    .argument('<id>', 'rule id')
    .argument('<key=value...>', 'settings, values in YAML: min_score=0.5 classes=[person,car]')
    .action(async (id: string, pairs: string[], raw: unknown) => {
      const opts = parseOptions(plainOptions, raw);
      report(opts.json, await call(opts.socket, { method: 'rules.set', params: { id, changes: parseAssignments(pairs) } }));
    });
  return cmd;
}
