import { Command } from 'commander';
import { z } from 'zod';
import type { Result } from '../../daemon/control/results.js';
import { call, DEFAULT_SOCKET } from '../control-client.js';
import { describeChange, parseAssignments, parseOptions, parseSpec } from '../options.js';
import type { Output } from '../output.js';

const common = { socket: z.string().min(1), json: z.boolean().optional() };
const listOptions = z.strictObject(common);
const addOptions = z.strictObject({
  ...common,
  model: z.string().min(1).optional(),
  fps: z.coerce.number().optional(),
  disabled: z.boolean().optional(),
  spec: z.string().optional(),
});
const removeOptions = z.strictObject({ ...common, withRules: z.boolean().optional() });


function withCommon(cmd: Command): Command {
  return cmd.option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET).option('--json', 'machine-readable output');
}

/** `vigilctl streams …`: cameras of the running daemon, changed live and saved to its config file. */
export function streamsCommand(out: Output): Command {
  const cmd = new Command('streams').description('list, add, remove and change streams of the running daemon (live, saved to its config)');
  const report = (json: boolean | undefined, r: Result<'streams.add'>): void => out.result(json, r, describeChange(r));

  withCommon(cmd.command('list').description('configured streams with their state'))
    .action(async (raw: unknown) => {
      const opts = parseOptions(listOptions, raw);
      const rows = await call(opts.socket, { method: 'streams.list' });
      out.result(opts.json, rows, rows.length === 0 ? 'no streams' : rows.map((s) =>
        `${s.id}  ${s.enabled ? s.state : 'disabled'}  ${s.uri}  model ${s.model ?? '-'}  ${s.fps} fps  frames ${s.framesPulled}` +
        `${s.rules.length > 0 ? `  rules ${s.rules.join(',')}` : ''}`).join('\n'));
    });

  withCommon(cmd.command('add').description('add a stream and start it; other streams are not touched'))
    .argument('<id>', 'stream id')
    .argument('<uri>', 'file://, rtsp://, rtsps:// or test:// URI')
    .option('--model <name>', 'detector (a configured model name)')
    .option('--fps <n>', 'frames per second handed to analysis')
    .option('--disabled', 'add it without starting it')
    .option('--spec <yaml>', 'further stream settings, e.g. \'{loop: true, rtsp_latency_ms: 400}\'')
    .action(async (id: string, uri: string, raw: unknown) => {
      const opts = parseOptions(addOptions, raw);
      const stream = {
        ...(opts.spec !== undefined ? parseSpec(opts.spec, '--spec') : {}), id, uri,
        ...(opts.model !== undefined ? { model: opts.model } : {}), ...(opts.fps !== undefined ? { fps: opts.fps } : {}),
        ...(opts.disabled ? { enabled: false } : {}),
      };
      report(opts.json, await call(opts.socket, { method: 'streams.add', params: { stream } }, 30_000));
    });

  withCommon(cmd.command('remove').description('stop a stream, free its pipeline and remove it from the config'))
    .argument('<id>', 'stream id')
    .option('--with-rules', 'also remove the rules of this stream')
    .action(async (id: string, raw: unknown) => {
      const opts = parseOptions(removeOptions, raw);
      report(opts.json, await call(opts.socket, { method: 'streams.remove', params: { id, with_rules: opts.withRules ?? false } }, 30_000));
    });

  for (const verb of ['enable', 'disable'] as const) {
    withCommon(cmd.command(verb).description(verb === 'enable' ? 'start a disabled stream' : 'stop a stream but keep it in the config'))
      .argument('<id>', 'stream id')
      .action(async (id: string, raw: unknown) => {
        const opts = parseOptions(listOptions, raw);
        report(opts.json, await call(opts.socket, { method: `streams.${verb}`, params: { id } }, 30_000));
      });
  }

  withCommon(cmd.command('set').description('change settings of a stream (that stream restarts; `key=null` restores a default)'))
    .argument('<id>', 'stream id')
    .argument('<key=value...>', 'settings, values in YAML: fps=10 loop=true model=null')
    .action(async (id: string, pairs: string[], raw: unknown) => {
      const opts = parseOptions(listOptions, raw);
      report(opts.json, await call(opts.socket, { method: 'streams.set', params: { id, changes: parseAssignments(pairs) } }, 30_000));
    });
  return cmd;
}
