import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { subscribe } from '../uplink/harness.js';

const PRODUCER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'producer.js');
const KILLS = 5;

interface Run {
  ids: string[];
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill: () => void;
}

function startProducer(dir: string, url: string, drainOnly = false): Run {
  const child = spawn(process.execPath, [PRODUCER, '--dir', dir, '--url', url, ...(drainOnly ? ['--drain-only'] : [])],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const ids: string[] = [];
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    const complete = out.lastIndexOf('\n');
    if (complete < 0) return;
    for (const line of out.slice(0, complete).split('\n')) if (/^[0-9a-f-]{36}$/.test(line)) ids.push(line);
    out = out.slice(complete + 1);
  });
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })));
  return { ids, stdout: () => `${out}${err}`, exited, kill: () => child.kill('SIGKILL') };
}

test('SIGKILL at random moments loses no committed event: every printed id reaches the hub', async (t) => {
  const broker = await startMosquitto(t);
  const hub = await subscribe(t, broker.url, 'vigil/v1/lab/crash-1/+');
  const dir = await tempDir(t);
  const committed = new Set<string>();

  for (let k = 0; k < KILLS; k += 1) {
    const run = startProducer(dir, broker.url);
    t.after(() => run.kill());
    // Somewhere between a few hundred and a couple of thousand events in, at an unpredictable point
    // of the commit / publish / PUBACK / delete cycle.
    const killAt = 300 + Math.floor(Math.random() * 1500);
    await waitFor(`run ${k} to commit ${killAt} events`, () => (run.ids.length >= killAt ? true : undefined), 30_000, 1);
    run.kill();
    const exit = await run.exited;
    assert.equal(exit.signal, 'SIGKILL', run.stdout());
    for (const id of run.ids) committed.add(id);
  }
  assert.ok(committed.size >= 2000, `only ${committed.size} events committed`);

  const last = startProducer(dir, broker.url, true);
  t.after(() => last.kill());
  const exit = await last.exited;
  assert.equal(exit.code, 0, last.stdout());

  const received = await waitFor('every committed id at the hub', () => {
    const ids = new Set(hub.messages.map((m) => String(m.userProperties['event_id'])));
    return [...committed].every((id) => ids.has(id)) ? ids : undefined;
  }, 30_000);
  const payloadIds = new Set(hub.messages.map((m) => (m.json as { id: string }).id));
  assert.ok([...committed].every((id) => payloadIds.has(id)), 'the payload id matches the user property');
  const duplicates = hub.messages.length - received.size;
  t.diagnostic(`committed ${committed.size} ids over ${KILLS} kills; hub got ${hub.messages.length} messages, ` +
    `${received.size} distinct, ${duplicates} duplicates (${((100 * duplicates) / received.size).toFixed(2)} %)`);
});
