import { Command } from 'commander';
import { z } from 'zod';
import { loadConfigFile, overridesFromEnv } from '../../daemon/config/load.js';
import { configSchema } from '../../daemon/config/schema.js';
import { ConfigError } from '../../daemon/errors.js';
import { CliError, EXIT } from '../errors.js';
import type { Output } from '../output.js';

export function configCommand(out: Output): Command {
  const cmd = new Command('config').description('inspect and validate configuration');
  cmd.command('validate')
    .description('validate a vigil.yaml; every problem is listed with its path')
    .argument('[file]', 'configuration file', process.env['VIGIL_CONFIG'] ?? '/etc/vigil/vigil.yaml')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { json?: boolean }) => {
      try {
        const cfg = loadConfigFile(file, overridesFromEnv());
        out.result(opts.json, { valid: true, file, streams: cfg.streams.length, rules: cfg.rules.length },
          `${file}: valid (${cfg.streams.length} streams, ${cfg.rules.length} rules)`);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        out.result(opts.json, { valid: false, file, problems: err.problems }, err.message);
        throw new CliError(`${file}: invalid`, EXIT.usage);
      }
    });
  cmd.command('schema')
    .description('print the JSON Schema of vigil.yaml (for editors and provisioning tools)')
    .action(() => {
      out.raw(JSON.stringify(z.toJSONSchema(configSchema, { io: 'input' }), null, 2));
    });
  return cmd;
}
