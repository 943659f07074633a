#!/usr/bin/env node
import { CommanderError } from 'commander';
import { errorMessage } from '../daemon/errors.js';
import { CliError, EXIT } from './errors.js';
import { processOutput } from './output.js';
import { buildProgram } from './program.js';

async function main(): Promise<number> {
  const out = processOutput();
  try {
    await buildProgram(out).parseAsync(process.argv);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliError) {
      out.error(`vigilctl: ${err.message}`);
      return err.exitCode;
    }
    out.error(`vigilctl: ${errorMessage(err)}`);
    return EXIT.failed;
  }
}

void main().then((code) => { process.exitCode = code; });
