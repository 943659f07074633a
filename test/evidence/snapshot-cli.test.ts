import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import jpeg from 'jpeg-js';
import type { AppStatus } from '../../daemon/app.js';
import { ZONE_COLOUR } from '../../daemon/evidence/full-snapshot.js';
import { spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { vigilctl } from '../helpers/vigilctl.js';

const decode = (file: string): { width: number; height: number; data: Uint8Array } => jpeg.decode(readFileSync(file), { useTArray: true });
const pixel = (img: { data: Uint8Array; width: number }, x: number, y: number): number[] => {
  const o = (y * img.width + x) * 4;
  return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!];
};
const near = (got: number[], want: readonly number[], tolerance: number): boolean => got.every((v, i) => Math.abs(v - want[i]!) <= tolerance);

void test('vigilctl snapshot against a real vigild: camera-size JPEGs over the socket and through the hub; a bad stream id exits 1 naming the streams', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const key = path.join(dir, 'alice.pem');
  const made = await vigilctl(['keygen', '--out', key, '--name', 'alice']);
  const pub = /public_key: "([^"]+)"/.exec(made.out)?.[1];
  assert.ok(pub, made.out);
  const socket = path.join(dir, 'vigild.sock');
  const config = await writeConfig(dir, {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
    telemetry: { interval_s: 3600, prometheus: { enabled: false } },
    remote: { operators: [{ name: 'alice', public_key: pub }] },
    streams: [
      // A camera of 960x540 analysed at a far smaller size, and a 1280x720 test pattern.
      { id: 'plaza', uri: `file://${sharedPath('video', 'pedestrians.mp4')}`, fps: 5, realtime: true, loop: true },
      { id: 'pattern', uri: 'test://blue?width=1280&height=720&fps=10', fps: 5 },
      { id: 'off', uri: 'test://ball', enabled: false },
    ],
    rules: [{ id: 'door', stream: 'pattern', kind: 'presence', classes: ['person'], units: 'norm', zone: [[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]] }],
  });
  const vigild = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 30_000);
  await waitFor('both streams playing', async () => {
    const r = await vigilctl(['status', '--socket', socket, '--json']);
    const st = JSON.parse(r.out) as AppStatus;
    return st.streams.filter((s) => s.state === 'playing' && s.framesPulled > 0).length === 2 ? true : undefined;
  }, 30_000, 200);

  const plaza = path.join(dir, 'plaza.jpg');
  const local = await vigilctl(['snapshot', 'plaza', '-o', plaza, '--socket', socket, '--json']);
  assert.equal(local.code, 0, local.err);
  const meta = JSON.parse(local.out) as { width: number; height: number; bytes: number; file: string };
  assert.deepEqual([meta.width, meta.height, meta.file], [960, 540, plaza]);
  const img = decode(plaza);
  assert.deepEqual([img.width, img.height], [960, 540], 'the camera\'s size, not the analysis size');
  assert.equal(readFileSync(plaza).length, meta.bytes);

  // The overlay draws the rule's zone (norm units: a quarter in from each edge of 1280x720).
  const boxed = path.join(dir, 'pattern.jpg');
  const overlay = await vigilctl(['snapshot', 'pattern', '-o', boxed, '--overlay', '--socket', socket]);
  assert.equal(overlay.code, 0, overlay.err);
  assert.match(overlay.out, /pattern\.jpg: 1280x720, \d+ KiB, frame of \d{4}-/);
  const p = decode(boxed);
  assert.deepEqual([p.width, p.height], [1280, 720]);
  assert.ok(near(pixel(p, 640, 180), ZONE_COLOUR, 60), `zone top edge ${pixel(p, 640, 180).join(',')}`);
  assert.ok(near(pixel(p, 640, 360), [0, 0, 255], 40), `inside ${pixel(p, 640, 360).join(',')}`);

  // Through the hub: the same method over MQTT request/response, scaled on the device.
  const remoteFile = path.join(dir, 'remote.jpg');
  const remote = await vigilctl(['--hub', broker.url, '--device', 'lab/cam-1', '--timeout', '15', 'snapshot', 'pattern', '-o', remoteFile, '--max-width', '640', '--json']);
  assert.equal(remote.code, 0, remote.err);
  const r = decode(remoteFile);
  assert.deepEqual([r.width, r.height], [640, 360]);

  // Bad input: a clear error and exit 1 (the daemon answered), no file written, the daemon unharmed.
  const missing = path.join(dir, 'missing.jpg');
  const bad = await vigilctl(['snapshot', 'nope', '-o', missing, '--socket', socket]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /no stream "nope" \(streams: plaza, pattern, off\)/);
  assert.equal(existsSync(missing), false);
  const disabled = await vigilctl(['snapshot', 'off', '-o', missing, '--socket', socket]);
  assert.equal(disabled.code, 1);
  assert.match(disabled.err, /stream "off" is disabled/);
  const usage = await vigilctl(['snapshot', 'plaza', '--socket', socket]);
  assert.equal(usage.code, 2, 'no -o: a usage error');
  const tooSmall = await vigilctl(['snapshot', 'plaza', '-o', missing, '--max-width', '3', '--socket', socket]);
  assert.equal(tooSmall.code, 2);
  assert.match(tooSmall.err, /maxWidth/);
  const again = await vigilctl(['snapshot', 'plaza', '-o', plaza, '--socket', socket]);
  assert.equal(again.code, 0, again.err);
  assert.equal(vigild.child.exitCode, null, 'still running');
});
