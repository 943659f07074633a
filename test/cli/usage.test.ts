import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommanderError } from 'commander';
import { CliError, EXIT } from '../../cli/errors.js';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';

function capture(): { out: Output; errors: string[] } {
  const errors: string[] = [];
  return { out: { raw: () => undefined, result: () => undefined, error: (t) => errors.push(t) }, errors };
}

for (const argv of [['config', 'validate', '--nope'], ['events', 'list', '--limit', 'x'], ['bench', 'mot'], ['nosuch']]) {
  test(`a usage error in "${argv.join(' ')}" is thrown to the caller, not exited`, async () => {
    const { out, errors } = capture();
    let thrown: unknown;
    await assert.rejects(buildProgram(out).parseAsync(argv, { from: 'user' }), (err: unknown) => {
      thrown = err;
      // Commander's own usage errors, or a command's check of its options (CliError, exit 2): thrown either way.
      return (err instanceof CommanderError && err.exitCode !== 0) || (err instanceof CliError && err.exitCode === EXIT.usage);
    });
    if (thrown instanceof CommanderError) assert.ok(errors.some((e) => e.startsWith('error:')), `no usage message in ${JSON.stringify(errors)}`);
  });
}
