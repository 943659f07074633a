import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { connectAsync } from 'mqtt';
import type { ConfigInput } from '../../daemon/config/schema.js';
import { alertSchema, auditMessageSchema, stateSchema } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { vigilctl } from '../helpers/vigilctl.js';
import { makeDogClip, openDb, spawnDaemon, writeConfig, type Daemon, type LogLine } from '../e2e/daemon-harness.js';
import { cpuSeconds, rssMb } from '../helpers/proc-stats.js';
import { dogCameraDevice } from './pair-config.js';
import { freeUdpPort, startUdpRelay } from './udp-relay.js';

/**
 * Two real vigild processes as a hot-standby pair over one camera (the dog clip, a dog in every
 * frame, so each analysed frame is a presence alert), real UDP heartbeats through a relay the test
 * can cut, and a real mosquitto (device a reaches it through a TCP proxy the test can cut too).
 * The pair runs the default timing, 1 s heartbeats and 3 misses: a takeover is due within 4 s.
 */

const SITE = 'yard';
const HEARTBEAT_MS = 1000;
const MISSES = 3;
const BOUND_MS = HEARTBEAT_MS * MISSES + 1000;
const KEY = 'pair-test-key-0123456789abcdef';

interface Heard { topic: string; at: number; json: Record<string, unknown> }

const isActive = (l: LogLine): boolean => l.msg === 'pair: this device is now active';
const isStandby = (l: LogLine): boolean => l.msg === 'pair: this device is now standby';
const epochOf = (l: LogLine): number => Number(l['epoch']);


test('hot-standby pair: only the active publishes; a SIGKILL is taken over within the bound with a higher epoch; '
  + 'a cut LAN link alone changes nothing; a full partition heals to one active; the preferred device takes its role back', { timeout: 170_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-pair-');
  const clip = pathToFileURL(await makeDogClip(dir)).href;
  const broker = await startMosquitto(t);
  const proxyA = await startTcpProxy(t, broker.port);
  const listenA = await freeUdpPort();
  const listenB = await freeUdpPort();
  const relay = await startUdpRelay(t, listenA, listenB);

  const heard: Heard[] = [];
  const hub = await connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 100 });
  t.after(() => hub.endAsync(true));
  hub.on('message', (topic, payload) => heard.push({
    topic, at: performance.now(), json: topic.includes('/evidence') || topic.startsWith('local/') ? {} : JSON.parse(payload.toString()) as Record<string, unknown>,
  }));
  await hub.subscribeAsync([`vigil/v1/${SITE}/+/alerts`, `vigil/v1/${SITE}/+/audit`, `vigil/v1/${SITE}/+/state`,
    `vigil/v1/${SITE}/+/evidence`, `vigil/v1/${SITE}/+/evidence/chunk`, 'local/+/+'], { qos: 1 });
  const actionsOf = (device: string): number => heard.filter((h) => h.topic.startsWith(`local/${device}/`)).length;
  const evidenceFrom = (device: string): number => heard.filter((h) => h.topic.startsWith(`vigil/v1/${SITE}/${device}/evidence`)).length;
  const alertsFrom = (device: string, after = 0): Heard[] => heard.filter((h) => h.at >= after && h.topic === `vigil/v1/${SITE}/${device}/alerts`);

  const configFor = async (id: 'a' | 'b'): Promise<{ file: string; storage: string }> => {
    const sub = path.join(dir, id);
    await mkdir(sub);
    const storage = path.join(sub, 'state');
    const cfg: ConfigInput = {
      ...dogCameraDevice(id, SITE, storage, { url: id === 'a' ? proxyA.url : broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 }, clip),
      // Evidence on (the default): the standby must not send its snapshots either.
      evidence: { enabled: true, min_interval_s: 1 },
      // A local action on every alert (published on the same broker here): only the active may run it.
      actions: { mqtt: { url: broker.url, topic: `local/${id}/{rule}` }, on: [{ severities: ['alert'], mqtt: true }] },
      pair: {
        enabled: true, key: KEY, preferred: id === 'a', peer_device: id === 'a' ? 'b' : 'a',
        listen: `127.0.0.1:${id === 'a' ? listenA : listenB}`, peer: `127.0.0.1:${id === 'a' ? relay.portForA : relay.portForB}`,
        heartbeat_ms: HEARTBEAT_MS, misses: MISSES, hand_back: { preferred_after_s: 2 },
      },
    };
    return { file: await writeConfig(sub, cfg), storage };
  };
  const cfgA = await configFor('a');
  const cfgB = await configFor('b');

  // 1. Both start as standby (b once a's heartbeats go out, so that neither starts alone and takes
  // over for want of a peer); the preferred device wins the tie and becomes active at epoch 1.
  let a: Daemon = spawnDaemon(t, ['--config', cfgA.file]);
  await a.waitForLine('a\'s pair to start', (l) => l.msg === 'pair started as standby', 30_000);
  const socketB = path.join(dir, 'b.sock');
  const b: Daemon = spawnDaemon(t, ['--config', cfgB.file], { VIGIL_SOCKET: socketB });
  const first = await a.waitForLine('a to become active', isActive, 40_000);
  let epoch = epochOf(first);
  assert.equal(epoch, 1);
  await waitFor('alerts from a', () => (alertsFrom('a').length >= 4 ? true : undefined), 30_000);
  for (const h of alertsFrom('a')) {
    const alert = alertSchema.parse(h.json);
    assert.equal(alert.pair_epoch, epoch);
    assert.equal(alert.producer, 'a');
  }
  // The standby analyses in parallel (its events are stored) but publishes none of them.
  const dbB = openDb(t, cfgB.storage);
  const standbyEvents = (): number => dbB.prepare("SELECT count(*) FROM events WHERE rule = 'dog'").pluck().get() as number;
  const cpu0 = { a: cpuSeconds(a.child.pid ?? 0), b: cpuSeconds(b.child.pid ?? 0), at: performance.now(), events: standbyEvents() };
  await waitFor('the standby to store events of its own', () => (standbyEvents() >= cpu0.events + 12 ? true : undefined), 30_000);
  const cpuS = (performance.now() - cpu0.at) / 1000;
  t.diagnostic(`load over ${cpuS.toFixed(1)} s: active a ${((100 * (cpuSeconds(a.child.pid ?? 0) - cpu0.a)) / cpuS).toFixed(0)} % CPU `
    + `${rssMb(a.child.pid ?? 0).toFixed(0)} MB, standby b ${((100 * (cpuSeconds(b.child.pid ?? 0) - cpu0.b)) / cpuS).toFixed(0)} % CPU `
    + `${rssMb(b.child.pid ?? 0).toFixed(0)} MB; b stored ${standbyEvents()} events`);
  const roles = (d: Daemon): string => d.lines.filter((l) => isActive(l) || isStandby(l) || l.msg === 'pair started as standby')
    .map((l) => `${l.time} ${l.msg} ${String(l['epoch'])} ${typeof l['reason'] === 'string' ? l['reason'] : ''}`).join('; ');
  t.diagnostic(`a: ${roles(a)}`);
  t.diagnostic(`b: ${roles(b)}`);
  assert.equal(alertsFrom('b').length, 0, 'the standby published an alert while the active was healthy');
  await waitFor('evidence from a', () => (evidenceFrom('a') > 0 ? true : undefined), 10_000);
  assert.equal(evidenceFrom('b'), 0, 'the standby sent evidence while the active was healthy');
  assert.ok(actionsOf('a') > 0, 'the active ran no action');
  assert.equal(actionsOf('b'), 0, 'the standby ran an action while the active was healthy');
  assert.equal(b.lines.filter(isActive).length, 0);
  const shown = await vigilctl(['status', '--socket', socketB]);
  assert.equal(shown.code, 0, shown.err);
  assert.match(shown.out, /^pair: STANDBY epoch 1 since \S+ {2}peer a: active epoch 1, LAN \d+\.\d s ago, broker \d+\.\d s ago, state online {2}takeovers 0$/m);

  // 2. SIGKILL the active, three times: b takes over each time with a higher epoch, and a, restarted,
  // comes back as standby and takes its role back once healthy for 2 s (hand_back).
  const takeovers: number[] = [];
  const firstAlerts: number[] = [];
  const gaps: number[] = [];
  const ownTerm: number[] = [];
  for (let k = 0; k < 3; k++) {
    const fromB = b.lines.length;
    const killedAt = performance.now();
    a.child.kill('SIGKILL');
    const line = await b.waitForLine(`b to take over (kill ${k + 1})`, isActive, 15_000, fromB);
    assert.ok(epochOf(line) > epoch, `epoch ${epochOf(line)} after ${epoch}`);
    epoch = epochOf(line);
    const audit = await waitFor('the takeover audit record', () => heard.find((h) => h.at >= killedAt && h.topic.endsWith('/b/audit')
      && h.json['method'] === 'pair.takeover'), 10_000);
    const record = auditMessageSchema.parse(audit.json);
    assert.equal(record.method, 'pair.takeover');
    assert.equal(record.severity, 'alert');
    const alert = await waitFor('an alert from b', () => alertsFrom('b', killedAt).find((h) => h.json['pair_epoch'] === epoch), 10_000);
    // The catch-up: b's events since it last heard a go out too, so the hub sees no gap in frame time.
    // Measured against the newest alert of any earlier term, from either device: after a hand-back
    // a is killed within a frame of its takeover and has often published nothing of its term yet
    // (b published until it stepped down); a's own last alert was then from before the previous
    // kill, 6-9 s earlier, which is what was once taken for a catch-up that missed events.
    const framesBefore = heard.filter((h) => h.topic.endsWith('/alerts') && Number(h.json['pair_epoch']) < epoch).map((h) => Date.parse(String(h.json['ts'])));
    const firstOfNew = Math.min(...alertsFrom('b', killedAt).filter((h) => h.json['pair_epoch'] === epoch).map((h) => Date.parse(String(h.json['ts']))));
    gaps.push(firstOfNew - Math.max(...framesBefore));
    ownTerm.push(alertsFrom('a').filter((h) => h.json['pair_epoch'] === epoch - 1).length);
    takeovers.push(audit.at - killedAt);
    firstAlerts.push(alert.at - killedAt);
    assert.ok(audit.at - killedAt <= BOUND_MS, `takeover after ${(audit.at - killedAt).toFixed(0)} ms, bound ${BOUND_MS} ms`);
    assert.ok(alert.at - killedAt <= 5000, `first alert of the new active after ${(alert.at - killedAt).toFixed(0)} ms`);
    const state = await waitFor('b\'s state to say active', () => heard.filter((h) => h.topic.endsWith('/b/state')).map((h) => stateSchema.parse(h.json))
      .find((s) => s.pair?.role === 'active' && s.pair.epoch === epoch), 5000);
    assert.equal(state.pair?.peer, 'a');

    a = spawnDaemon(t, ['--config', cfgA.file]);
    const back = await a.waitForLine('a to take its role back', isActive, 40_000);
    assert.ok(epochOf(back) > epoch);
    epoch = epochOf(back);
    await b.waitForLine('b to step down', isStandby, 5000, fromB);
  }
  const sorted = (v: number[]): number[] => [...v].sort((x, y) => x - y);
  t.diagnostic(`takeover (kill → audit at the hub) ms: ${takeovers.map((v) => v.toFixed(0)).join(', ')}; `
    + `p50 ${sorted(takeovers)[1]?.toFixed(0)}, max ${Math.max(...takeovers).toFixed(0)}; `
    + `kill → first alert ms: ${firstAlerts.map((v) => v.toFixed(0)).join(', ')}; frame-time gap to the new active ms: ${gaps.join(', ')}; `
    + `alerts a published in the term it was killed in: ${ownTerm.join(', ')}`);
  // Every takeover, not only the first: at 4 analysed frames per second the gap is a frame or two.
  for (const [k, gap] of gaps.entries()) assert.ok(gap <= HEARTBEAT_MS + 500, `kill ${k + 1}: frame-time gap ${gap} ms (all: ${gaps.join(', ')})`);
  // The stepped-down b publishes nothing new: what it committed while active has left once its count stops.
  const settled = await waitFor('b\'s alerts to stop', async () => {
    const n = alertsFrom('b').length;
    await new Promise((r) => setTimeout(r, 600));
    return alertsFrom('b').length === n ? n : undefined;
  }, 10_000);
  assert.ok(settled > 0);

  // 3. Cut the LAN link only: the broker vouches for a, so b stays standby (docs/fault-tolerance.md).
  const beforeCut = b.lines.length;
  relay.cut();
  await b.waitForLine('b to notice the cut link', (l) => l.msg.includes('staying standby'), 10_000, beforeCut);
  assert.equal(b.lines.slice(beforeCut).filter(isActive).length, 0);

  // 4. Cut a from the broker too: its last will fires, b takes over; a, alone, stays active (two actives).
  proxyA.cut();
  const split = await b.waitForLine('b to take over in the partition', isActive, 15_000, beforeCut);
  assert.ok(epochOf(split) > epoch);
  epoch = epochOf(split);
  const fromA = a.lines.length;
  relay.heal();
  proxyA.resume();
  const healedAt = performance.now();
  await a.waitForLine('a to step down after the heal', isStandby, 5000, fromA);
  const healMs = performance.now() - healedAt;
  t.diagnostic(`partition healed: one active after ${healMs.toFixed(0)} ms`);
  assert.ok(healMs <= 5000);
  const lastOfA = a.lines.filter((l) => isActive(l) || isStandby(l)).at(-1);
  const lastOfB = b.lines.filter((l) => isActive(l) || isStandby(l)).at(-1);
  assert.ok(lastOfA && lastOfB && isStandby(lastOfA) !== isStandby(lastOfB), 'exactly one active');
});
