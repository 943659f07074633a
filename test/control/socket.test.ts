import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { callUnchecked as call } from '../../cli/control-client.js';
import { CliError } from '../../cli/errors.js';
import type { ControlTarget } from '../../daemon/control/handler.js';
import { MAX_REQUEST_BYTES, replySchema, type Reply } from '../../daemon/control/protocol.js';
import { ControlSocket } from '../../daemon/control/socket-server.js';
import { silentLogger } from '../../daemon/log.js';
import { tempDir } from '../helpers/shared.js';

const target = (over: Partial<ControlTarget> = {}): ControlTarget => ({
  status: () => ({ ok: true }),
  listEvents: (q) => [{ stream: q.stream ?? null, limit: q.limit }],
  ...over,
});

async function serve(t: { after(fn: () => Promise<void>): void }, dir: string, tgt = target()): Promise<string> {
  const file = path.join(dir, 'run', 'vigild.sock');
  const server = new ControlSocket(file, tgt, silentLogger());
  await server.start();
  t.after(() => server.stop());
  return file;
}

/** Sends raw bytes and collects the reply lines until the server has answered `n` of them or closed. */
function raw(file: string, text: string, n = 1): Promise<Reply[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect(file);
    let buf = '';
    const done = (): void => resolve(buf.split('\n').filter(Boolean).map((l) => replySchema.parse(JSON.parse(l))));
    s.setEncoding('utf8');
    s.on('connect', () => s.write(text));
    s.on('data', (c: string) => {
      buf += c;
      if (buf.split('\n').filter(Boolean).length >= n) { s.end(); done(); }
    });
    s.on('close', done);
    s.on('error', reject);
  });
}

test('requests over the socket get typed replies; the socket is group-only', async (t) => {
  const file = await serve(t, await tempDir(t));
  assert.equal(statSync(file).mode & 0o777, 0o660);
  assert.deepEqual(await call(file, { method: 'status' }), { ok: true });
  assert.deepEqual(await call(file, { method: 'events.list', params: { stream: 'gate', limit: 3 } }), [{ stream: 'gate', limit: 3 }]);
});

test('bad requests get error replies and the connection keeps serving', async (t) => {
  const file = await serve(t, await tempDir(t));
  const replies = await raw(file, [
    'not json',
    JSON.stringify({ id: 'a', method: 'reboot' }),
    JSON.stringify({ id: 'b', method: 'events.list', params: { limit: -1 } }),
    JSON.stringify({ id: 'c', method: 'status', extra: 1 }),
    JSON.stringify({ id: 'd', method: 'status' }),
  ].join('\n') + '\n', 5);
  assert.deepEqual(replies.map((r) => [r.id, r.status === 'error' ? r.error.code : 'ok']),
    [[null, 'bad_request'], ['a', 'unknown_method'], ['b', 'bad_request'], ['c', 'bad_request'], ['d', 'ok']]);
  const limit = replies[2];
  assert.ok(limit?.status === 'error' && limit.error.message.startsWith('params.limit: '), JSON.stringify(limit));
});

test('an oversized request is refused without being buffered forever', async (t) => {
  const file = await serve(t, await tempDir(t));
  const [reply] = await raw(file, 'x'.repeat(MAX_REQUEST_BYTES + 10));
  assert.equal(reply?.status === 'error' ? reply.error.code : 'ok', 'too_large');
});

test('a failing handler is an error reply, not a dead daemon', async (t) => {
  let calls = 0;
  const file = await serve(t, await tempDir(t), target({ status: () => { calls++; throw new Error('store closed'); } }));
  await assert.rejects(call(file, { method: 'status' }), (err: unknown) =>
    err instanceof CliError && err.exitCode === 1 && err.message === 'failed: store closed');
  await assert.rejects(call(file, { method: 'status' }), CliError);
  assert.equal(calls, 2);
});

test('a stale socket file is replaced; a live one is left to its owner', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'run', 'vigild.sock');
  const first = new ControlSocket(file, target(), silentLogger());
  await first.start();
  await assert.rejects(new ControlSocket(file, target(), silentLogger()).start(), /another process answers/);
  await first.stop();
  writeFileSync(file, ''); // what a crash leaves behind
  const second = new ControlSocket(file, target(), silentLogger());
  await second.start();
  t.after(() => second.stop());
  assert.deepEqual(await call(file, { method: 'status' }), { ok: true });
});

test('no daemon: exit code 3 with the socket named', async (t) => {
  const file = path.join(await tempDir(t), 'none.sock');
  await assert.rejects(call(file, { method: 'status' }), (err: unknown) =>
    err instanceof CliError && err.exitCode === 3 && err.message.includes(file));
});
