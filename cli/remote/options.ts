import { InvalidArgumentError, Option, type Command } from 'commander';
import { CliError, EXIT } from '../errors.js';
import { selectRoute, type RemoteOptions } from './route.js';

/**
 * Commands that never talk to a daemon, so a `--device` would be silently ignored by them; every
 * other command goes through `call()` and so reaches a remote device like the local one. A whole
 * command (`doctor`) or one subcommand (`config validate` reads a local file; `config get` asks
 * the daemon, so it works remotely).
 */
const LOCAL_ONLY: ReadonlySet<string> = new Set(['doctor', 'config validate', 'config schema', 'bench', 'keygen', 'fleet', 'hub', 'fl key']);

/** The names from the top-level command down to `cmd`: `config get`. */
function commandPath(cmd: Command): string[] {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names;
}

const seconds = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 600) throw new InvalidArgumentError('expected seconds, more than 0 and at most 600');
  return n;
};

/**
 * The global options that send any command to a device through the hub instead of the local
 * socket. They come before the command (`vigilctl --device depot-3/cam-017 --hub … status`): with
 * positional options, a command's own `--timeout` (doctor's) stays its own.
 */
export function addRemoteOptions(program: Command): Command {
  program
    .enablePositionalOptions()
    .addOption(new Option('--device <site/device>', 'run the command on this device through the hub; SITE/* for every device of a site'))
    .addOption(new Option('--hub <url>', 'the hub broker, mqtts://host:8883').env('VIGIL_HUB'))
    .addOption(new Option('--ca <file>', 'CA certificate of the hub broker').env('VIGIL_HUB_CA'))
    .addOption(new Option('--cert <file>', 'operator client certificate').env('VIGIL_HUB_CERT'))
    .addOption(new Option('--key <file>', 'operator client key').env('VIGIL_HUB_KEY'))
    .addOption(new Option('--operator-key <file>', 'Ed25519 key that signs commands (vigilctl keygen)').env('VIGIL_OPERATOR_KEY'))
    .addOption(new Option('--timeout <s>', 'seconds to wait for a remote device').argParser(seconds).default(5))
    .hook('preAction', (thisCommand, actionCommand) => {
      const opts = thisCommand.opts<RemoteOptions>();
      const names = commandPath(actionCommand);
      const local = names.map((_, i) => names.slice(0, i + 1).join(' ')).find((p) => LOCAL_ONLY.has(p));
      if (opts.device !== undefined && local !== undefined) {
        throw new CliError(`"${local}" works on this machine only; --device does not apply to it`, EXIT.usage);
      }
      selectRoute(opts);
    });
  return program;
}
