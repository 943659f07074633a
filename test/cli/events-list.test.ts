import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CliError, EXIT } from '../../cli/errors.js';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';
import { ControlSocket } from '../../daemon/control/socket-server.js';
import { silentLogger } from '../../daemon/log.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { tempDir } from '../helpers/shared.js';
import { alertEvent } from '../uplink/harness.js';

async function vigilctl(argv: string[]): Promise<{ lines: string[]; error: unknown }> {
  const lines: string[] = [];
  const out: Output = { raw: (t) => lines.push(t), result: (j, v, h) => lines.push(j ? JSON.stringify(v) : h), error: (t) => lines.push(t) };
  try {
    await buildProgram(out).parseAsync(argv, { from: 'user' });
    return { lines, error: null };
  } catch (error) {
    return { lines, error };
  }
}

test('events list asks the daemon on its socket, reads the database only when the daemon is down, and never creates one', async (t) => {
  const dir = await tempDir(t);
  const stateDir = path.join(dir, 'state');
  const store = EventStore.open(stateDir);
  t.after(() => store.close());
  const stored = [store.recordEvent(alertEvent(1, { stream: 'gate' })), store.recordEvent(alertEvent(2, { stream: 'gate' }))];

  // The daemon answers: its events, not a second copy read from some other directory.
  const socket = path.join(dir, 'vigild.sock');
  const control = new ControlSocket(socket, { status: () => ({}), listEvents: ({ stream, limit }) => store.listEvents({ limit, ...(stream !== undefined ? { stream } : {}) }) }, silentLogger());
  await control.start();
  const live = await vigilctl(['events', 'list', '--socket', socket, '--state-dir', path.join(dir, 'elsewhere'), '--json']);
  assert.equal(live.error, null, String(live.error));
  assert.deepEqual((JSON.parse(live.lines[0] ?? '[]') as { id: string }[]).map((e) => e.id), stored.map((e) => e.id).reverse());
  assert.equal(existsSync(path.join(dir, 'elsewhere')), false, 'nothing created where the daemon was asked instead');
  await control.stop();

  // The daemon is down: the database is read directly.
  const down = await vigilctl(['events', 'list', '--socket', socket, '--state-dir', stateDir, '--json']);
  assert.equal(down.error, null, String(down.error));
  assert.equal((JSON.parse(down.lines[0] ?? '[]') as unknown[]).length, 2);

  // Neither: a clear error, exit 3, and no database made at a mistyped path.
  const typo = path.join(dir, 'sate');
  const none = await vigilctl(['events', 'list', '--socket', socket, '--state-dir', typo]);
  assert.ok(none.error instanceof CliError && none.error.exitCode === EXIT.unreachable, String(none.error));
  assert.match(none.error.message, /does not answer on .*vigild\.sock and there is no event database at .*sate\/vigil\.db/);
  assert.equal(existsSync(typo), false, 'the mistyped state directory was not created');
});
