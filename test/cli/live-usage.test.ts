import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { CliError } from '../../cli/errors.js';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';

const quiet: Output = { raw: () => undefined, result: () => undefined, error: () => undefined };
// Nothing listens here: a command that got past its option checks would fail with exit 3 instead.
const socket = path.join('/nonexistent', 'vigild.sock');

for (const [argv, message] of [
  [['logs', 'tail', '--lines', '0'], /lines: Too small/],
  [['logs', 'tail', '--level', 'loud'], /level: Invalid option/],
  [['streams', 'set', 'gate', 'fps'], /expected key=value, got "fps"/],
  [['streams', 'set', 'gate', 'fps='], /fps: give a value/],
  [['streams', 'add', 'gate', 'test://ball', '--spec', '[1, 2]'], /--spec: expected a mapping/],
  [['rules', 'add'], /give the rule inline or with --file/],
  [['rules', 'set', 'door', 'zone=[[0,0]'], /zone: not a valid value/],
  [['config', 'set', 'mqtt.url', ''], /mqtt\.url: give a value/],
] as const) {
  test(`vigilctl ${argv.join(' ')}: a usage error (exit 2) before anything is sent`, async () => {
    await assert.rejects(buildProgram(quiet).parseAsync([...argv, '--socket', socket], { from: 'user' }),
      (err: unknown) => err instanceof CliError && err.exitCode === 2 && message.test(err.message));
  });
}

test('a live command that passes its checks but finds no daemon exits 3', async () => {
  await assert.rejects(buildProgram(quiet).parseAsync(['streams', 'list', '--socket', socket], { from: 'user' }),
    (err: unknown) => err instanceof CliError && err.exitCode === 3);
});
