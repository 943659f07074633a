import { Command } from 'commander';
import { VERSION } from '../daemon/version.js';
import { benchCommand } from './commands/bench.js';
import { configCommand } from './commands/config.js';
import { consoleCommand } from './commands/console.js';
import { doctorCommand } from './commands/doctor.js';
import { eventsCommand } from './commands/events.js';
import { fleetCommand } from './commands/fleet.js';
import { keygenCommand } from './commands/keygen.js';
import { restartCommand } from './commands/restart.js';
import { snapshotCommand } from './commands/snapshot.js';
import { addRemoteOptions } from './remote/options.js';
import { modelsCommand } from './commands/models.js';
import { flCommand } from './commands/fl.js';
import { hubFlCommand } from './commands/hub-fl.js';
import { hubEvidenceCommand } from './commands/hub-evidence.js';
import { statusCommand } from './commands/status.js';
import { testAlertCommand } from './commands/test-alert.js';
import { logsCommand } from './commands/logs.js';
import { rulesCommand } from './commands/rules.js';
import { streamsCommand } from './commands/streams.js';
import { topCommand } from './commands/top.js';
import type { Output } from './output.js';

/**
 * Usage errors must reach `main` (and tests) as exceptions, never as a process.exit deep inside
 * commander; `addCommand()` does not pass these settings down, so they are applied to the whole tree.
 */
function throwInsteadOfExit(cmd: Command, out: Output): void {
  cmd.exitOverride().configureOutput({ writeOut: (s) => out.raw(s.trimEnd()), writeErr: (s) => out.error(s.trimEnd()) });
  for (const sub of cmd.commands) throwInsteadOfExit(sub, out);
}

/** Builds the whole command tree; tests call `buildProgram(out).parseAsync([...], { from: 'user' })`. */
export function buildProgram(out: Output): Command {
  const program = new Command('vigilctl')
    .description('manage a Vigil device')
    .version(VERSION)
    .addCommand(statusCommand(out))
    .addCommand(topCommand(out))
    .addCommand(configCommand(out))
    .addCommand(eventsCommand(out))
    .addCommand(benchCommand(out))
    .addCommand(doctorCommand(out))
    .addCommand(restartCommand(out))
    .addCommand(fleetCommand(out))
    .addCommand(keygenCommand(out))
    .addCommand(modelsCommand(out))
    .addCommand(testAlertCommand(out))
    .addCommand(streamsCommand(out))
    .addCommand(rulesCommand(out))
    .addCommand(logsCommand(out))
    .addCommand(flCommand(out))
    .addCommand(consoleCommand(out))
    .addCommand(snapshotCommand(out))
    .addCommand(new Command('hub').description('hub-side tools, run beside the regional broker').addCommand(hubFlCommand(out)).addCommand(hubEvidenceCommand(out)));

  addRemoteOptions(program);
  throwInsteadOfExit(program, out);
  return program;
}
