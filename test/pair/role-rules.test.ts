import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { EPOCH_FILE, readEpoch } from '../../daemon/pair/epoch-file.js';
import { encodeHeartbeat } from '../../daemon/pair/heartbeat.js';
import { pairSchema } from '../../daemon/pair/pair-config.js';
import { PairService, type PairTransition } from '../../daemon/pair/pair-service.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { captureLogger } from '../uplink/harness.js';
import { freeUdpPort, startUdpRelay, type UdpRelay } from './udp-relay.js';

/**
 * The role rules on two real PairServices over real UDP (through a relay the test cuts), without a
 * broker: with no witness, a silent peer is taken over, so a cut relay makes two actives at will.
 * 100 ms heartbeats, 3 misses.
 */

interface Side { pair: PairService; transitions: PairTransition[]; dir: string }

async function side(t: { after(fn: () => Promise<void> | void): void }, root: string, id: 'a' | 'b', relay: UdpRelay, ports: { a: number; b: number },
  preferred: boolean, epoch: number): Promise<Side> {
  const dir = path.join(root, id);
  await mkdir(dir, { recursive: true });
  if (epoch > 0) await writeFile(path.join(dir, EPOCH_FILE), JSON.stringify({ epoch }));
  const transitions: PairTransition[] = [];
  const pair = new PairService({
    config: pairSchema.parse({
      enabled: true, key: 'role-rules-key-0123456789', preferred, peer_device: id === 'a' ? 'b' : 'a', heartbeat_ms: 100, misses: 3,
      listen: `127.0.0.1:${ports[id]}`, peer: `127.0.0.1:${id === 'a' ? relay.portForA : relay.portForB}`,
    }),
    device: { id, site: 'yard' }, stateDir: dir, log: captureLogger('error').log, onTransition: (tr) => transitions.push(tr),
  });
  await pair.start();
  t.after(() => pair.stop());
  return { pair, transitions, dir };
}

async function rig(t: { after(fn: () => Promise<void> | void): void }): Promise<{ root: string; relay: UdpRelay; ports: { a: number; b: number } }> {
  const root = await tempDir(t, 'vigil-pair-rules-');
  const ports = { a: await freeUdpPort(), b: await freeUdpPort() };
  const relay = await startUdpRelay(t, ports.a, ports.b);
  return { root, relay, ports };
}

const activeWhen = (s: Side, epoch: number) => (): true | undefined => (s.pair.active && s.pair.status().epoch === epoch ? true : undefined);

test('two actives meet: the higher epoch stays, the other steps down and adopts it (saved)', async (t) => {
  const { root, relay, ports } = await rig(t);
  relay.cut();
  const a = await side(t, root, 'a', relay, ports, true, 5);
  const b = await side(t, root, 'b', relay, ports, false, 7);
  await waitFor('both active', () => (activeWhen(a, 6)() && activeWhen(b, 8)()), 5000);
  relay.heal();
  await waitFor('a to step down', () => (!a.pair.active ? true : undefined), 2000);
  assert.equal(a.pair.status().epoch, 8);
  assert.equal(readEpoch(a.dir), 8);
  assert.ok(b.pair.active);
  assert.deepEqual(a.transitions.map((x) => `${x.to}@${x.epoch}`), ['active@6', 'standby@8']);
});

test('two actives with the same epoch: the preferred device stays', async (t) => {
  const { root, relay, ports } = await rig(t);
  relay.cut();
  const a = await side(t, root, 'a', relay, ports, false, 3);
  const b = await side(t, root, 'b', relay, ports, true, 3);
  await waitFor('both active at 4', () => (activeWhen(a, 4)() && activeWhen(b, 4)()), 5000);
  relay.heal();
  await waitFor('a (not preferred) to step down', () => (!a.pair.active ? true : undefined), 2000);
  assert.ok(b.pair.active);
});

test('an active that hears a standby with a later epoch opens a term above it; the standby adopts it', async (t) => {
  const { root, relay, ports } = await rig(t);
  relay.cut();
  const a = await side(t, root, 'a', relay, ports, true, 0);
  await waitFor('a alone to become active at 1', activeWhen(a, 1), 5000);
  const b = await side(t, root, 'b', relay, ports, false, 9);
  relay.heal();
  await waitFor('a to open epoch 10', activeWhen(a, 10), 3000);
  await waitFor('b to adopt 10', () => (b.pair.status().epoch === 10 ? true : undefined), 2000);
  assert.equal(b.pair.active, false);
  assert.equal(b.transitions.length, 0);
  assert.equal(readEpoch(b.dir), 10);
});

test('a heartbeat the broker delivers late, older than one heard over UDP, does not count as news', async (t) => {
  const dir = await tempDir(t, 'vigil-pair-stale-');
  const peer = createSocket('udp4');
  await new Promise<void>((resolve) => { peer.bind(0, '127.0.0.1', resolve); });
  t.after(() => { peer.close(); });
  const port = await freeUdpPort();
  const key = 'role-rules-key-0123456789';
  const transitions: PairTransition[] = [];
  const pair = new PairService({
    config: pairSchema.parse({ enabled: true, key, preferred: false, peer_device: 'a', heartbeat_ms: 100, misses: 3,
      listen: `127.0.0.1:${port}`, peer: `127.0.0.1:${peer.address().port}` }),
    device: { id: 'b', site: 'yard' }, stateDir: dir, log: captureLogger('error').log, onTransition: (tr) => transitions.push(tr),
  });
  // The broker path as the uplink gives it: connected, and a handler per subscription.
  const handlers = new Map<string, (topic: string, payload: Buffer) => void>();
  pair.attachBroker({
    isConnected: true, subscribe: (filter, handler) => { handlers.set(filter, handler); }, unsubscribe: () => undefined, publishDirect: () => Promise.resolve(),
  });
  await pair.start();
  t.after(() => pair.stop());
  const beat = (seq: number, role: 'active' | 'standby', epoch: number): Buffer =>
    encodeHeartbeat({ v: 1, device: 'a', boot: 'boot-a', seq, role, epoch, preferred: true }, key);
  const sendUdp = (data: Buffer): void => { peer.send(data, port, '127.0.0.1'); };

  // a, active at epoch 3, heard over UDP: b adopts the epoch and stays standby.
  sendUdp(beat(10, 'active', 3));
  await waitFor('b to adopt epoch 3', () => (pair.status().epoch === 3 ? true : undefined), 2000);
  // Then the broker delivers a's beat from before (a standby at 2): the backlog of a healed link.
  handlers.get('vigil/v1/yard/a/pair')?.('vigil/v1/yard/a/pair', beat(5, 'standby', 2));
  assert.equal(pair.status().stale, 1);
  assert.equal(pair.status().peerRole, 'active', 'the stale beat replaced what b knows of a');
  assert.equal(pair.status().peerEpoch, 3);
  // b's checks (every 25 ms) run on what it knows; a later fresh beat shows they have run since.
  sendUdp(beat(11, 'active', 3));
  await waitFor('the fresh beat', () => (pair.status().peerHeardMsAgo !== null && pair.status().peerHeardMsAgo! < 50 ? true : undefined), 2000);
  await waitFor('a few checks', () => (pair.status().peerHeardMsAgo! >= 100 ? true : undefined), 2000);
  assert.deepEqual(transitions, [], 'b took over on a stale beat');
});
