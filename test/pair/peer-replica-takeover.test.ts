import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { connectAsync } from 'mqtt';
import type { PeerReplicaStatus } from '../../daemon/pair/pair-status.js';
import { alertSchema, auditMessageSchema } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { cpuSeconds } from '../helpers/proc-stats.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { vigilctl } from '../helpers/vigilctl.js';
import { makeDogClip, spawnDaemon, type Daemon, type LogLine } from '../e2e/daemon-harness.js';
import { peerCopyFile } from '../../daemon/pair/peer-replica-copy.js';
import { dogCameraDevice, writePairConfigs } from './pair-config.js';
import { freeListenPort, freezeWhenCopied, replicaLines, replicaStatus } from './peer-replica-helpers.js';
import { freeUdpPort } from './udp-relay.js';

/**
 * Issue 27's peer replica, end to end: two real vigild as a hot-standby pair on loopback, a real
 * mosquitto (device a reaches it through a TCP proxy the test cuts), the dog clip (a dog in every
 * frame: 4 alerts a second). The active a records alerts while its broker is unreachable, its
 * state directory is destroyed and it is SIGKILLed; b takes over and every alert a had committed
 * reaches the hub, from b, with a's ids, device, epoch and producer.
 */

const SITE = 'yard';
const KEY = 'peer-replica-e2e-key-0123456789';
const MAX_LAG_MS = 1000;

interface Alert { at: number; topic: string; id: string; device: string; producer: string; epoch: number }

const isActive = (l: LogLine): boolean => l.msg === 'pair: this device is now active';

test('peer replica: the active\'s accepted and undelivered alerts survive its storage and reach the hub through the standby after a takeover; '
  + 'the lag stays under 1 s; nothing it had delivered is sent again', { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-peer-replica-e2e-');
  const clip = pathToFileURL(await makeDogClip(dir)).href;
  const broker = await startMosquitto(t);
  const proxyA = await startTcpProxy(t, broker.port);
  const udp = { a: await freeUdpPort(), b: await freeUdpPort() };
  const tcp = { a: await freeListenPort(), b: await freeListenPort() };

  const alerts: Alert[] = [];
  const hub = await connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 100 });
  t.after(() => hub.endAsync(true));
  const audits: { topic: string; method: string; reason: string }[] = [];
  hub.on('message', (topic, payload) => {
    if (topic.endsWith('/audit')) {
      const r = auditMessageSchema.parse(JSON.parse(payload.toString()));
      audits.push({ topic, method: r.method, reason: r.reason ?? '' });
      return;
    }
    const a = alertSchema.parse(JSON.parse(payload.toString()));
    alerts.push({ at: Date.now(), topic, id: a.id, device: a.device, producer: a.producer ?? '', epoch: a.pair_epoch ?? -1 });
  });
  await hub.subscribeAsync([`vigil/v1/${SITE}/+/alerts`, `vigil/v1/${SITE}/+/audit`], { qos: 1 });

  const storage = { a: path.join(dir, 'a', 'state'), b: path.join(dir, 'b', 'state') };
  const configs = await writePairConfigs(dir, (id, other) => ({
    ...dogCameraDevice(id, SITE, storage[id], { url: id === 'a' ? proxyA.url : broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 }, clip),
    pair: {
      enabled: true, key: KEY, preferred: id === 'a', peer_device: other, listen: `127.0.0.1:${udp[id]}`, peer: `127.0.0.1:${udp[other]}`,
      heartbeat_ms: 1000, misses: 3, hand_back: 'stay',
      replica: { listen: `127.0.0.1:${tcp[id]}`, peer: `127.0.0.1:${tcp[other]}`, max_lag_ms: MAX_LAG_MS },
    },
  }));
  const sockets = { a: path.join(dir, 'a.sock'), b: path.join(dir, 'b.sock') };
  const start = (id: 'a' | 'b'): Daemon => spawnDaemon(t, ['--config', configs[id]], { VIGIL_SOCKET: sockets[id] });
  const replicaOf = (id: 'a' | 'b'): Promise<PeerReplicaStatus> => replicaStatus(sockets[id]);

  // 1. a (preferred) becomes active; its alerts reach the hub directly.
  const a = start('a');
  await a.waitForLine('a\'s pair to start', (l) => l.msg === 'pair started as standby', 30_000);
  const b = start('b');
  const first = await a.waitForLine('a to become active', isActive, 40_000);
  assert.equal(Number(first['epoch']), 1);
  await waitFor('a\'s stream to b', async () => ((await replicaOf('a')).connected ? true : undefined), 20_000, 200)
    .catch((err: unknown) => { throw new Error(`${String(err)}\na: ${replicaLines(a.lines)}\nb: ${replicaLines(b.lines)}`); });
  // b's control socket opens last, after its streams.
  await waitFor('b\'s control socket', () => replicaOf('b'), 30_000, 200);
  await waitFor('alerts from a at the hub', () => (alerts.filter((x) => x.topic.endsWith('/a/alerts')).length >= 4 ? true : undefined), 30_000);

  // 2. a's uplink is cut: b still hears a over UDP and stays standby; a goes on committing alerts it cannot send.
  proxyA.cut();
  const cutAt = Date.now();
  const dbA = new BetterSqlite3(path.join(storage.a, 'vigil.db'), { readonly: true, fileMustExist: true });
  const queuedAtA = (): number => dbA.prepare("SELECT count(*) FROM outbox WHERE topic LIKE '%/a/alerts'").pluck().get() as number;
  const cpu0 = { at: performance.now(), s: cpuSeconds(a.child.pid ?? 0), replica: (await replicaOf('a')).cpuMs, copy: (await replicaOf('b')).incoming.cpuMs };
  await waitFor('a to hold 40 undelivered alerts', () => (queuedAtA() >= 40 ? true : undefined), 40_000);
  const wallS = (performance.now() - cpu0.at) / 1000;
  const cpuPct = (100 * (cpuSeconds(a.child.pid ?? 0) - cpu0.s)) / wallS;
  const atB = await waitFor('b to hold 40 of a\'s undelivered rows', async () => {
    const r = await replicaOf('b');
    return r.incoming.pending >= 40 ? r : undefined;
  }, 10_000);
  const before = await replicaOf('a');
  t.diagnostic(`a's replica before the kill: ${JSON.stringify(before)}; b's copy: ${JSON.stringify(atB.incoming)}; over the cut (${wallS.toFixed(1)} s) `
    + `a used ${cpuPct.toFixed(0)} % of one core, its replica sender ${((before.cpuMs - cpu0.replica) / (10 * wallS)).toFixed(2)} %, `
    + `b's receiver ${((atB.incoming.cpuMs - cpu0.copy) / (10 * wallS)).toFixed(2)} %`);
  assert.equal(before.state, 'ok');
  assert.ok(before.lag !== null && before.lag.p99 <= MAX_LAG_MS, `lag p99 ${before.lag?.p99} ms`);
  assert.ok(atB.incoming.connected);
  const human = await vigilctl(['status', '--socket', sockets.a]);
  assert.match(human.out, /^pair replica: ok to b: behind \d+ row\(s\).*, lag p50 \d+ ms p99 \d+ ms, last ack \d+\.\d s ago {2}from b: connected, \d+ undelivered held, 0 relayed$/m);
  assert.equal(b.lines.filter(isActive).length, 0, 'b stayed standby while a was alive');

  // 3. a's storage dies with it: SIGKILL, then its state directory is gone. The kill is placed
  // where b's copy has caught up (freezeWhenCopied says why): the lag's loss is by design.
  const tries = await freezeWhenCopied(a.child, path.join(storage.a, 'vigil.db'), path.join(storage.b, peerCopyFile('a')));
  a.child.kill('SIGKILL');
  await a.exited;
  const killedAt = Date.now();
  // The alerts a accepted: committed while active (as standby it records events without a message).
  const committed = dbA.prepare("SELECT id, created_at FROM events WHERE rule = 'dog' AND created_at >= ? ORDER BY created_at")
    .all(Date.parse(first.time)) as { id: string; created_at: number }[];
  const deliveredByA = new Set(alerts.filter((x) => x.topic.endsWith('/a/alerts')).map((x) => x.id));
  dbA.close();
  await rm(storage.a, { recursive: true, force: true });
  const undelivered = committed.filter((e) => !deliveredByA.has(e.id));
  assert.ok(undelivered.length >= 40);

  // 4. b takes over and sends a's alerts: each id once, unchanged (a's device, producer and epoch), on b's topic.
  const takeover = await b.waitForLine('b to take over', isActive, 15_000);
  const relayLine = await b.waitForLine('b to queue a\'s undelivered alerts', (l) => l.msg === 'pair replica: the peer\'s accepted and undelivered events queued for the hub', 5000);
  const missing = (): { id: string; created_at: number }[] => undelivered.filter((e) => !alerts.some((x) => x.id === e.id));
  await waitFor('a\'s committed alerts at the hub', () => (missing().length === 0 ? true : undefined), 20_000).catch(() => undefined);
  const tail = missing();
  t.diagnostic(`a committed ${committed.length} alerts, ${undelivered.length} undelivered at the kill (cut ${((killedAt - cutAt) / 1000).toFixed(1)} s before); `
    + `b relayed ${String(relayLine['relayed'])} at epoch ${String(takeover['epoch'])}; missing at the hub: ${tail.length}; freezes until the copy held everything: ${tries}`);
  assert.ok(tail.length === 0, `${tail.length} of a's alerts never reached the hub: ${tail.map((e) => `${e.id} ${killedAt - e.created_at} ms before the kill`).join(', ')}`);
  for (const e of undelivered) {
    const got = alerts.filter((x) => x.id === e.id);
    assert.equal(got.length, 1, `alert ${e.id} arrived ${got.length} times`);
    assert.deepEqual([got[0]!.topic, got[0]!.device, got[0]!.producer, got[0]!.epoch], [`vigil/v1/${SITE}/b/alerts`, 'a', 'a', 1]);
  }
  const relayAudit = await waitFor('the relay\'s audit record from b', () => audits.find((r) => r.topic.endsWith('/b/audit') && r.method === 'pair.relay'), 10_000);
  const said = /^epoch 2: (\d+) accepted and undelivered message\(s\) of a sent from its copy here$/.exec(relayAudit.reason);
  assert.ok(said && Number(said[1]) >= undelivered.length, relayAudit.reason);
  // What a had delivered itself is not sent again by b. The exception the hub contract allows: a
  // message the hub got just before the cut whose PUBACK never reached a (the same id twice).
  const settled = alerts.filter((x) => x.topic.endsWith('/a/alerts') && x.at < cutAt - 1000).map((x) => x.id);
  const again = settled.filter((id) => alerts.filter((x) => x.id === id).length > 1);
  assert.deepEqual(again, [], 'alerts a had delivered were sent again');
  assert.equal(b.lines.filter((l) => l.msg === 'pair replica connection refused').length, 0);

  // 5. a comes back, on a new card (an empty state directory): standby, its streams to and from b
  // connected again (a new database: b starts a new source for it), and nothing of the old term is
  // sent again, by either device.
  proxyA.resume();
  const atHubBefore = alerts.length;
  const back = start('a');
  await back.waitForLine('a to come back as standby', (l) => l.msg === 'pair started as standby', 30_000);
  await waitFor('a\'s stream to b and b\'s to a', async () => {
    const [ra, rb] = [await replicaOf('a'), await replicaOf('b')];
    return ra.connected && rb.connected && ra.incoming.connected && rb.incoming.connected ? true : undefined;
  }, 40_000, 250);
  // b goes on raising an alert per analysed frame (4 fps), each held at a until the hub has it, so
  // "nothing held" is a moment a poll may never see under load; the relayed batch (≥ 40) gone is
  // what shows here: at most a second of b's own alerts still in flight.
  await waitFor('b\'s relayed messages delivered (at a, only b\'s newest alerts held)', async () => ((await replicaOf('a')).incoming.pending <= 4 ? true : undefined), 10_000, 250);
  const oldTerm = new Set(committed.map((e) => e.id));
  const resent = alerts.slice(atHubBefore).filter((x) => oldTerm.has(x.id));
  assert.deepEqual(resent, [], 'alerts of a\'s old term sent again after its return');
  assert.equal(back.lines.filter(isActive).length, 0, 'a came back as standby (hand_back: stay)');
});
