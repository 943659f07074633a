import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { connectAsync } from 'mqtt';
import { alertSchema } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { vigilctl } from '../helpers/vigilctl.js';
import { makeDogClip, spawnDaemon, type Daemon, type LogLine } from '../e2e/daemon-harness.js';
import { dogCameraDevice, writePairConfigs } from './pair-config.js';
import { createPairNetwork } from './netns.js';

/**
 * The pair as issue 27 asks for it: two real vigild, each in its own network namespace, joined by
 * a LAN cable (a veth pair) for the UDP heartbeats and each with its own uplink (another veth) to
 * a real mosquitto in the test's namespace. Links are cut at the veths, never at the broker. The
 * camera is the dog clip (a dog in every frame at 4 analysed frames per second), so every frame
 * time should be covered by an alert at the hub; 1 s heartbeats, 3 misses.
 */

const SITE = 'yard';
const HEARTBEAT_MS = 1000;
const PORT = 7420;
const KEY = 'netns-pair-key-0123456789abcdef';

interface Alert { at: number; id: string; ts: number; epoch: number; producer: string }

const isActive = (l: LogLine): boolean => l.msg === 'pair: this device is now active';
const isStandby = (l: LogLine): boolean => l.msg === 'pair: this device is now standby';
const epochOf = (l: LogLine): number => Number(l['epoch']);

test('pair in two network namespaces: a SIGKILL is taken over within 5 s and the dead active\'s committed events reach the hub; a cut LAN cable changes nothing; '
  + 'a partition (of the active, then of the standby) heals to one active within 5 s with duplicates only across the epoch change; after a power cut of both one restarts active and sends what it held', { timeout: 240_000 }, async (t) => {
  const net = createPairNetwork(t);
  const dir = await tempDir(t, 'vigil-netns-pair-');
  const clip = pathToFileURL(await makeDogClip(dir)).href;
  // Listening on every address: the devices reach it over their uplinks, the hub over loopback.
  const broker = await startMosquitto(t, { listener: { lines: ['listener {port} 0.0.0.0', 'allow_anonymous true'], scheme: 'mqtt' } });

  const alerts: Alert[] = [];
  const hub = await connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 100 });
  t.after(() => hub.endAsync(true));
  hub.on('message', (_topic, payload) => {
    const a = alertSchema.parse(JSON.parse(payload.toString()));
    alerts.push({ at: performance.now(), id: a.id, ts: Date.parse(a.ts), epoch: a.pair_epoch ?? -1, producer: a.producer ?? '' });
  });
  await hub.subscribeAsync(`vigil/v1/${SITE}/+/alerts`, { qos: 1 });
  const atHub = (ids: readonly string[]): string[] => ids.filter((id) => !alerts.some((a) => a.id === id));

  const storage = { a: path.join(dir, 'a', 'state'), b: path.join(dir, 'b', 'state') };
  const configs = await writePairConfigs(dir, (id, other) => ({
    // A short keepalive: a device whose uplink was cut notices a dead connection and reconnects soon after the heal.
    ...dogCameraDevice(id, SITE, storage[id], { url: `mqtt://${net.broker[id]}:${broker.port}`, reconnect_min_ms: 100, reconnect_max_ms: 1000, keepalive_s: 5 }, clip),
    pair: {
      enabled: true, key: KEY, preferred: id === 'a', peer_device: other,
      listen: `${net.lan[id]}:${PORT}`, peer: `${net.lan[other]}:${PORT}`, heartbeat_ms: HEARTBEAT_MS, misses: 3, hand_back: 'stay',
    },
  }));
  const socketA = path.join(dir, 'a.sock');
  const start = (id: 'a' | 'b'): Daemon => spawnDaemon(t, ['--config', configs[id]], id === 'a' ? { VIGIL_SOCKET: socketA } : {}, { netns: net.ns[id] });
  // Opened for each read: a restarted vigild may have replaced its database file (recovery at start).
  const query = <T>(id: 'a' | 'b', read: (db: Database) => T): T => {
    const db = new BetterSqlite3(path.join(storage[id], 'vigil.db'), { readonly: true, fileMustExist: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  };
  /** The device's dog events recorded in [from, to] (wall clock), by id. */
  const eventsBetween = (id: 'a' | 'b', from: number, to: number): string[] =>
    query(id, (db) => db.prepare("SELECT id FROM events WHERE rule = 'dog' AND created_at >= ? AND created_at <= ? ORDER BY created_at").pluck().all(from, to) as string[]);
  const queuedAlerts = (id: 'a' | 'b'): number => query(id, (db) => db.prepare("SELECT count(*) FROM outbox WHERE topic LIKE '%/alerts'").pluck().get() as number);
  const timeOf = (l: LogLine): number => Date.parse(l.time);

  // 1. Both start as standby; the preferred a wins the tie at epoch 1.
  let a = start('a');
  await a.waitForLine('a\'s pair to start', (l) => l.msg === 'pair started as standby', 30_000);
  let b = start('b');
  const first = await a.waitForLine('a to become active', isActive, 40_000);
  let epoch = epochOf(first);
  assert.equal(epoch, 1);
  await waitFor('alerts from a', () => (alerts.filter((x) => x.producer === 'a').length >= 8 ? true : undefined), 30_000);

  // 2. SIGKILL the active: b takes over and its first alert reaches the hub within 5 s of the kill;
  // a, restarted (its uplink intact), sends every event it had committed before the kill.
  const aActiveAt = timeOf(first);
  let fromB = b.lines.length;
  const killedAt = performance.now();
  const killedWall = Date.now();
  a.child.kill('SIGKILL');
  await a.exited;
  const takeover = await b.waitForLine('b to take over', isActive, 10_000, fromB);
  assert.ok(epochOf(takeover) > epoch);
  epoch = epochOf(takeover);
  const firstOfB = await waitFor('b\'s first alert', () => alerts.find((x) => x.producer === 'b' && x.epoch === epoch), 10_000);
  const killToAlert = firstOfB.at - killedAt;
  assert.ok(killToAlert <= 5000, `kill → first alert of the new active ${killToAlert.toFixed(0)} ms`);
  const committedByA = eventsBetween('a', aActiveAt, killedWall);
  assert.ok(committedByA.length >= 4, `a committed ${committedByA.length} events while active`);
  a = start('a');
  await a.waitForLine('a to come back as standby', (l) => l.msg === 'pair started as standby', 30_000);
  await waitFor('a\'s events from before the kill at the hub', () => (atHub(committedByA).length === 0 ? true : undefined), 20_000);
  await waitFor('a\'s outbox of alerts empty', () => (queuedAlerts('a') === 0 ? true : undefined), 10_000);
  assert.equal(a.lines.filter(isActive).length, 0, 'a restarted stays standby (hand_back: stay)');

  // 3. Cut the LAN cable only: the broker vouches for the active b, so a stays standby.
  // a just restarted: b's heartbeats through the broker must be reaching it first, or no witness vouches for b.
  await waitFor('a to hear b through the broker', async () => {
    const shown = await vigilctl(['status', '--json', '--socket', socketA]);
    const heard = (JSON.parse(shown.out) as { pair?: { peerBrokerHeardMsAgo: number | null } }).pair?.peerBrokerHeardMsAgo;
    return heard !== undefined && heard !== null && heard < HEARTBEAT_MS * 1.5 ? true : undefined;
  }, 10_000, 200);
  const beforeLanCut = a.lines.length;
  const bBeforeLanCut = b.lines.length;
  net.cutLan();
  await a.waitForLine('a to notice the cut cable', (l) => l.msg.includes('staying standby'), 10_000, beforeLanCut);
  net.healLan();
  assert.equal(a.lines.slice(beforeLanCut).filter(isActive).length, 0, 'a took over while the broker vouched for b');
  assert.equal(b.lines.slice(bBeforeLanCut).filter(isStandby).length, 0, 'b stepped down after a cut cable');

  // 4. Partition the active b (LAN cable and its uplink): a takes over with a higher epoch while b,
  // alone, stays active and holds its alerts. After the heal b steps down within 5 s and its held
  // alerts reach the hub with the old epoch: the duplicates, marked by epoch and producer.
  const fromA = a.lines.length;
  fromB = b.lines.length;
  const cutAt = Date.now();
  net.cutLan();
  net.cutUplink('b');
  const split = await a.waitForLine('a to take over in the partition', isActive, 15_000, fromA);
  assert.ok(epochOf(split) > epoch);
  const bEpoch = epoch;
  epoch = epochOf(split);
  await waitFor('b to commit alerts it cannot send', () => (queuedAlerts('b') >= 4 ? true : undefined), 15_000);
  net.healUplink('b');
  net.healLan();
  const healedAt = performance.now();
  const stepDown = await b.waitForLine('b to step down after the heal', isStandby, 5000, fromB);
  const healMs = performance.now() - healedAt;
  assert.ok(healMs <= 5000, `one active ${healMs.toFixed(0)} ms after the heal`);
  assert.equal(a.lines.slice(fromA).filter(isStandby).length, 0, 'a, at the higher epoch, stayed active');
  // What b recorded as the partition's active, up to its step-down: every one of them reaches the hub.
  const heldByB = eventsBetween('b', cutAt, timeOf(stepDown));
  await waitFor('b\'s held alerts at the hub', () => (atHub(heldByB).length === 0 ? true : undefined), 30_000);
  // Stale heartbeats the broker delivers from its backlog after the heal must not start another round.
  assert.equal(b.lines.slice(fromB).filter(isActive).length, 0, 'b took over again after stepping down');
  assert.equal(a.lines.slice(fromA).filter(isStandby).length, 0, 'a stepped down after the heal');
  const late = alerts.filter((x) => x.producer === 'b' && x.epoch === bEpoch && x.at >= healedAt);
  assert.ok(late.length >= 4, `b's partition alerts reached the hub late, with epoch ${bEpoch}: ${late.length}`);

  // 4b. Partition the standby b instead: with neither the cable nor the broker it has no witness
  // and takes over (cameras must be watched), holding its alerts, while a stays active. The heal
  // makes a, at the lower epoch, step down; b's held alerts arrive with b's higher epoch.
  const fromA2 = a.lines.length;
  const fromB2 = b.lines.length;
  net.cutLan();
  net.cutUplink('b');
  const alone = await b.waitForLine('b, cut off, to take over', isActive, 15_000, fromB2);
  assert.ok(epochOf(alone) > epoch);
  epoch = epochOf(alone);
  await waitFor('b to hold alerts it cannot send', () => (queuedAlerts('b') >= 4 ? true : undefined), 15_000);
  assert.equal(a.lines.slice(fromA2).filter(isStandby).length, 0, 'a stepped down while it could not hear b');
  net.healUplink('b');
  net.healLan();
  const healed2 = performance.now();
  await a.waitForLine('a to step down after the heal', isStandby, 5000, fromA2);
  const heal2Ms = performance.now() - healed2;
  const heldByB2 = query('b', (db) => db.prepare("SELECT json_extract(payload, '$.id') FROM outbox WHERE topic LIKE '%/alerts'").pluck().all() as string[]);
  await waitFor('b\'s alerts from the partition at the hub', () => (atHub(heldByB2).length === 0 ? true : undefined), 30_000);
  assert.equal(b.lines.slice(fromB2).filter(isStandby).length, 0, 'b stepped down after the heal');
  assert.equal(a.lines.slice(fromA2).filter(isActive).length, 0, 'a took over again after stepping down');

  // 5. Power-cut approximation: the active b loses its uplink (its alerts pile up in its outbox, the
  // LAN keeps a standby), then both are SIGKILLed; b alone restarts with its uplink back: it
  // becomes active after one window and its undelivered alerts reach the hub.
  net.cutUplink('b');
  await waitFor('b to hold alerts it cannot send', () => (queuedAlerts('b') >= 4 ? true : undefined), 15_000);
  const powerCut = Date.now();
  a.child.kill('SIGKILL');
  b.child.kill('SIGKILL');
  await Promise.all([a.exited, b.exited]);
  const heldOverCut = query('b', (db) => db.prepare("SELECT json_extract(payload, '$.id') FROM outbox WHERE topic LIKE '%/alerts'").pluck().all() as string[]);
  assert.ok(heldOverCut.length >= 4);
  net.healUplink('b');
  b = start('b');
  const restarted = await b.waitForLine('b, alone, to become active', isActive, 40_000);
  assert.ok(epochOf(restarted) > epoch, `epoch ${epochOf(restarted)} after ${epoch}`);
  epoch = epochOf(restarted);
  await waitFor('b\'s held alerts at the hub', () => (atHub(heldOverCut).length === 0 ? true : undefined), 20_000);
  await waitFor('b\'s alerts in the new term', () => alerts.find((x) => x.producer === 'b' && x.epoch === epoch), 20_000);

  // The hub's view: one producer per epoch (a duplicate never shares the epoch of the original),
  // and up to the power cut every frame time is covered by an alert within a heartbeat.
  const producers = new Map<number, Set<string>>();
  for (const x of alerts) producers.set(x.epoch, (producers.get(x.epoch) ?? new Set()).add(x.producer));
  for (const [e, p] of producers) assert.equal(p.size, 1, `epoch ${e} has alerts from ${[...p].join(' and ')}`);
  const times = [...new Set(alerts.filter((x) => x.ts < powerCut - 1000).map((x) => x.ts))].sort((x, y) => x - y);
  let widest = 0;
  for (let i = 1; i < times.length; i++) widest = Math.max(widest, times[i]! - times[i - 1]!);
  t.diagnostic(`kill → b's first alert ${killToAlert.toFixed(0)} ms; partition heal → one active ${healMs.toFixed(0)} ms (active cut off), `
    + `${heal2Ms.toFixed(0)} ms (standby cut off); `
    + `alerts at the hub ${alerts.length} over epochs ${[...producers.keys()].join(', ')}; widest frame-time gap ${widest} ms; `
    + `b held ${heldOverCut.length} alerts over the power cut`);
  assert.ok(widest <= HEARTBEAT_MS + 500, `a gap of ${widest} ms in frame time at the hub`);
});

