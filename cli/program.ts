import { Command } from 'commander';
import { VERSION } from '../daemon/version.js';
import { configCommand } from './commands/config.js';
import { eventsCommand } from './commands/events.js';
import type { Output } from './output.js';

/** Builds the whole command tree; tests call `buildProgram(out).parseAsync([...], { from: 'user' })`. */
export function buildProgram(out: Output): Command {
  return new Command('vigilctl')
    .description('manage a Vigil device')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.raw(s.trimEnd()), writeErr: (s) => out.error(s.trimEnd()) })
    .addCommand(configCommand(out))
    .addCommand(eventsCommand(out));
}
