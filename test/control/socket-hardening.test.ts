import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import type { ControlTarget } from '../../daemon/control/handler.js';
import { replySchema, type Reply } from '../../daemon/control/protocol.js';
import { ControlSocket } from '../../daemon/control/socket-server.js';
import { createLogger } from '../../daemon/log.js';
import { tempDir, waitFor } from '../helpers/shared.js';

/** One request and its reply over a fresh connection, as a well-behaved client does it. */
function ask(file: string, body: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const s = net.connect(file);
    let buf = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${JSON.stringify(body)}\n`));
    s.on('data', (c: string) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        s.end();
        resolve(replySchema.parse(JSON.parse(buf.slice(0, nl))));
      }
    });
    s.on('error', reject);
  });
}

/**
 * A client in its own process, so that its own buffers do not count against the daemon's memory:
 * it writes `n` status requests as fast as the socket takes them and never reads. It prints
 * `wrote <requests fully handed to the kernel>` and `closed` when the daemon hangs up.
 */
const FLOODER = `
const net = require('node:net');
const [file, n] = [process.argv[1], Number(process.argv[2])];
const s = net.connect(file);
s.pause();
let i = 0, written = 0;
s.on('error', () => undefined);
s.on('close', () => { console.log('wrote ' + written); console.log('closed'); process.exit(0); });
function more() {
  while (i < n) {
    const ok = s.write(JSON.stringify({ id: 'r' + i, method: 'status' }) + '\\n', () => { written++; });
    i++;
    if (!ok) { s.once('drain', more); return; }
  }
}
s.on('connect', more);
`;

void test('a client that pipelines 100k requests and never reads: backpressure, then disconnected; others still served', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'vigild.sock');
  let handled = 0;
  // A status reply of about 1 KB, the size of a real one with a few streams.
  const target: ControlTarget = {
    status: () => { handled += 1; return { streams: Array.from({ length: 8 }, (_, i) => ({ id: `camera-${i}`, state: 'playing', fps: 10, pulled: 123456 + i, note: 'x'.repeat(60) })) }; },
    listEvents: () => [],
  };
  const lines: string[] = [];
  const server = new ControlSocket(file, target, createLogger('warn', { write: (l: string) => { lines.push(l); } }), undefined, { stallMs: 1500 });
  await server.start();
  t.after(() => server.stop());

  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
  t.after(() => clearInterval(sampler));

  const child = spawn(process.execPath, ['-e', FLOODER, file, '100000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  t.after(() => { if (child.exitCode === null) child.kill(); });

  // While the flooder is held back, the daemon answers other clients at once.
  await waitFor('the flooder to be held back', () => (handled > 0 ? true : undefined));
  const other = await ask(file, { id: 'other', method: 'status' });
  assert.equal(other.status, 'ok');

  await waitFor('the daemon to close the flooder\'s connection', () => (out.includes('closed') ? true : undefined), 20_000);
  clearInterval(sampler);
  const growthMb = (peak - before) / 2 ** 20;
  t.diagnostic(`requests handled for the flooder: ${handled - 1} of 100000; ${out.trim().split('\n')[0] ?? ''}; daemon RSS growth ${growthMb.toFixed(1)} MB`);
  // Held back: the daemon handled only what fits in the socket buffers before it stopped reading.
  assert.ok(handled < 5_000, `${handled} requests handled`);
  assert.ok(growthMb < 20, `RSS grew ${growthMb.toFixed(1)} MB`);
  assert.ok(lines.some((l) => l.includes('control client does not read its replies')), 'the disconnect is logged');
  // And it goes on serving.
  const after = await ask(file, { id: 'after', method: 'status' });
  assert.equal(after.status, 'ok');
});

void test('a client that reads slowly still gets every reply, in order', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'vigild.sock');
  const target: ControlTarget = { status: () => ({ pad: 'y'.repeat(2000) }), listEvents: () => [] };
  const server = new ControlSocket(file, target, createLogger('silent'), undefined, { stallMs: 5000, pauseAtBytes: 16 * 1024 });
  await server.start();
  t.after(() => server.stop());
  const n = 2000;
  const ids = await new Promise<string[]>((resolve, reject) => {
    const s = net.connect(file);
    const got: string[] = [];
    let buf = '';
    s.setEncoding('utf8');
    s.on('connect', () => {
      s.write(Array.from({ length: n }, (_, i) => JSON.stringify({ id: `q${i}`, method: 'status' })).join('\n') + '\n');
      // Reads in bursts with pauses: the daemon must wait for it, not drop it.
      s.pause();
      const tick = setInterval(() => { s.resume(); setTimeout(() => s.pause(), 5); }, 20);
      s.on('close', () => clearInterval(tick));
    });
    s.on('data', (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        got.push((replySchema.parse(JSON.parse(buf.slice(0, nl))) as { id: string }).id);
        buf = buf.slice(nl + 1);
      }
      if (got.length === n) { s.end(); resolve(got); }
    });
    s.on('error', reject);
  });
  assert.deepEqual(ids, Array.from({ length: n }, (_, i) => `q${i}`));
});
