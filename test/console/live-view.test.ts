import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { UserStore } from '../../daemon/console/user-store.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';
import { decodeMp4 } from '../evidence/clip-fixtures.js';
import { login, PASSWORD } from './console-fixture.js';

/** The MP4 boxes at the top level of `data` (type and size), as far as they are whole. */
function boxes(data: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 8 <= data.length;) {
    const size = data.readUInt32BE(at);
    out.push(data.toString('latin1', at + 4, at + 8));
    if (size < 8) break;
    at += size;
  }
  return out;
}

/** What a WebSocket upgrade is answered with when it is refused: the status line. */
function refusedWith(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
    ws.on('open', () => { ws.terminate(); reject(new Error('the upgrade was accepted')); });
    ws.on('error', () => undefined);
  });
}

test('live view: fragmented MP4 of the camera\'s own stream over a WebSocket, with overlays; refused without a session, cross-site, or past the viewer cap', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const stateDir = path.join(dir, 'state');
  await new UserStore(stateDir).add('viewer', 'viewer', PASSWORD);
  const config = await writeConfig(dir, {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: stateDir }, mqtt: { url: broker.url },
    streams: [{ id: 'cam', uri: `file://${sharedPath('video', 'pedestrians.mp4')}`, loop: true, fps: 5 }],
    telemetry: { prometheus: { enabled: false } },
    console: { enabled: true, listen: '127.0.0.1:0', max_viewers: 1 },
  });
  const vigild = spawnDaemon(t, ['--config', config]);
  const line = await vigild.waitForLine('the console listening', (l) => l.msg === 'console listening', 30_000);
  const port = Number(new URL(String(line['url'])).port);
  const url = `ws://127.0.0.1:${port}/api/live`;
  const origin = `http://127.0.0.1:${port}`;

  assert.equal(await refusedWith(url, { origin }), 401);
  const viewer = await login(port, 'viewer', PASSWORD);
  assert.equal(await refusedWith(url, { origin: 'https://evil.example', cookie: viewer.cookie }), 403);

  const ws = new WebSocket(url, { headers: { origin, cookie: viewer.cookie } });
  t.after(() => ws.terminate());
  const texts: { type: string; [k: string]: unknown }[] = [];
  const binary: Buffer[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) binary.push(data);
    else texts.push(JSON.parse(data.toString('utf8')) as { type: string });
  });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  ws.send(JSON.stringify({ stream: 'cam' }));
  // A second viewer is past console.max_viewers (1).
  assert.equal(await refusedWith(url, { origin, cookie: viewer.cookie }), 503);

  const started = Date.now();
  await waitFor('the first frame', () => (boxes(Buffer.concat(binary)).includes('moof') ? true : undefined), 60_000, 20);
  t.diagnostic(`first frame on the wire ${Date.now() - started} ms after asking (it waits for a keyframe)`);
  await waitFor('30 frames', () => (boxes(Buffer.concat(binary)).filter((b) => b === 'moof').length >= 30 ? true : undefined), 60_000, 100);
  const bytes = Buffer.concat(binary);
  const all = boxes(bytes);
  assert.deepEqual(all.slice(0, 2), ['ftyp', 'moov'], `boxes: ${all.slice(0, 8).join(' ')}`);
  // One frame per fragment, each a moof and its mdat.
  assert.deepEqual(all.slice(2, 6), ['moof', 'mdat', 'moof', 'mdat']);
  const init = texts.find((m) => m.type === 'init');
  assert.match(String(init?.['codec']), /^avc1\.[0-9a-f]{6}$/i);
  assert.deepEqual([init?.['width'], init?.['height']], [960, 540]);
  // What a browser's Media Source gets plays: a real demuxer and decoder read every frame of it.
  const file = path.join(dir, 'live.mp4');
  await writeFile(file, bytes);
  const decoded = await decodeMp4(file);
  const fragments = all.filter((b) => b === 'moof').length;
  assert.equal(decoded.frames, fragments);
  assert.ok(decoded.firstIsKey);

  ws.close();
  await vigild.waitForLine('the live view closed', (l) => l.msg === 'live view closed', 10_000);
  const exit = await vigild.stop();
  assert.equal(exit.code, 0);
});
