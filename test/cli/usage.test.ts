import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommanderError } from 'commander';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';

function capture(): { out: Output; errors: string[] } {
  const errors: string[] = [];
  return { out: { raw: () => undefined, result: () => undefined, error: (t) => errors.push(t) }, errors };
}

for (const argv of [['config', 'validate', '--nope'], ['events', 'list', '--limit', 'x'], ['bench', 'mot'], ['nosuch']]) {
  test(`a usage error in "${argv.join(' ')}" is thrown to the caller, not exited`, async () => {
    const { out, errors } = capture();
    await assert.rejects(buildProgram(out).parseAsync(argv, { from: 'user' }), (err: unknown) =>
      err instanceof CommanderError && err.exitCode !== 0);
    assert.ok(errors.some((e) => e.startsWith('error:')), `no usage message in ${JSON.stringify(errors)}`);
  });
}
