import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { connectAsync } from 'mqtt';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { vigilctl } from '../helpers/vigilctl.js';
import { makeDogClip, spawnDaemon, type Daemon, type LogLine } from '../e2e/daemon-harness.js';
import { dogCameraDevice, writePairConfigs } from './pair-config.js';
import { freeUdpPort, startUdpRelay } from './udp-relay.js';

/**
 * `pair.mode: cold` on two real vigild (loopback, a UDP relay, a real mosquitto, the dog clip): the
 * standby runs no stream and stores no event; a takeover starts its pipeline and its alerts
 * follow; when it steps down (the preferred device takes its role back) its pipeline stops again.
 */

const SITE = 'yard';
const KEY = 'cold-pair-key-0123456789abcdef';

const isActive = (l: LogLine): boolean => l.msg === 'pair: this device is now active';
const isStandby = (l: LogLine): boolean => l.msg === 'pair: this device is now standby';

interface Shown { streams: { id: string; state: string }[]; pair?: { role: string } }

test('cold standby: no stream and no event while standby; a takeover starts the pipeline and alerts follow; a step-down stops it', { timeout: 150_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-cold-pair-');
  const clip = pathToFileURL(await makeDogClip(dir)).href;
  const broker = await startMosquitto(t);
  const listen = { a: await freeUdpPort(), b: await freeUdpPort() };
  const relay = await startUdpRelay(t, listen.a, listen.b);
  const alerts: { at: number; producer: string; epoch: number }[] = [];
  const hub = await connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 100 });
  t.after(() => hub.endAsync(true));
  hub.on('message', (_topic, payload) => {
    const json = JSON.parse(payload.toString()) as { producer?: string; pair_epoch?: number };
    alerts.push({ at: performance.now(), producer: json.producer ?? '', epoch: json.pair_epoch ?? -1 });
  });
  await hub.subscribeAsync(`vigil/v1/${SITE}/+/alerts`, { qos: 1 });

  const storage = { a: path.join(dir, 'a', 'state'), b: path.join(dir, 'b', 'state') };
  const sockets = { a: path.join(dir, 'a.sock'), b: path.join(dir, 'b.sock') };
  const files = await writePairConfigs(dir, (id, other) => ({
    ...dogCameraDevice(id, SITE, storage[id], { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 }, clip),
    pair: {
      enabled: true, key: KEY, preferred: id === 'a', peer_device: other, mode: 'cold',
      listen: `127.0.0.1:${listen[id]}`, peer: `127.0.0.1:${id === 'a' ? relay.portForA : relay.portForB}`,
      heartbeat_ms: 1000, misses: 3, hand_back: { preferred_after_s: 2 },
    },
  }));
  const start = (id: 'a' | 'b'): Daemon => spawnDaemon(t, ['--config', files[id]], { VIGIL_SOCKET: sockets[id] });
  const shown = async (id: 'a' | 'b'): Promise<Shown> => {
    const r = await vigilctl(['status', '--json', '--socket', sockets[id]]);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as Shown;
  };
  /** b's dog events recorded after `since` (wall clock). */
  const eventsOfB = (since = 0): number => {
    const db = new BetterSqlite3(path.join(storage.b, 'vigil.db'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare("SELECT count(*) FROM events WHERE rule = 'dog' AND created_at > ?").pluck().get(since) as number;
    } finally {
      db.close();
    }
  };

  let a = start('a');
  await a.waitForLine('a\'s pair to start', (l) => l.msg === 'pair started as standby', 30_000);
  const b = start('b');
  await a.waitForLine('a to become active', isActive, 40_000);
  await waitFor('alerts from a', () => (alerts.filter((x) => x.producer === 'a').length >= 4 ? true : undefined), 30_000);
  // The standby decodes nothing: no stream runs, and while a publishes several alerts b stores none.
  await waitFor('b\'s control socket', async () => ((await shown('b')).pair?.role === 'standby' ? true : undefined), 20_000, 200);
  const seen = alerts.length;
  await waitFor('more alerts from a', () => (alerts.length >= seen + 8 ? true : undefined), 20_000);
  assert.deepEqual((await shown('b')).streams, [], 'a cold standby runs no stream');
  assert.equal(eventsOfB(), 0, 'a cold standby analysed frames');

  // SIGKILL a: b takes over, starts its pipeline, and its alerts follow.
  const from = b.lines.length;
  const killedAt = performance.now();
  a.child.kill('SIGKILL');
  const takeover = await b.waitForLine('b to take over', isActive, 10_000, from);
  const epoch = Number(takeover['epoch']);
  const firstOfB = await waitFor('b\'s first alert', () => alerts.find((x) => x.producer === 'b' && x.epoch === epoch), 20_000);
  t.diagnostic(`cold takeover: kill → first alert of b ${(firstOfB.at - killedAt).toFixed(0)} ms`);
  assert.deepEqual((await shown('b')).streams.map((s) => s.id), ['gate']);

  // a comes back, takes its role back after 2 s; b steps down and its pipeline stops.
  a = start('a');
  await a.waitForLine('a to take its role back', isActive, 40_000);
  await b.waitForLine('b to step down', isStandby, 10_000, from);
  const stopped = await b.waitForLine('b\'s streams to stop', (l) => l.msg === 'pair (cold): standby, streams stopped', 10_000, from);
  assert.deepEqual((await shown('b')).streams, []);
  await waitFor('a\'s alerts after the hand-back', () => (alerts.filter((x) => x.producer === 'a' && x.epoch > epoch).length >= 6 ? true : undefined), 20_000);
  assert.equal(eventsOfB(Date.parse(stopped.time)), 0, 'b analysed frames after its step-down');
});
