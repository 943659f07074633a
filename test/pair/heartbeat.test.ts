import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { validateConfig } from '../../daemon/config/load.js';
import { HeartbeatLink, decodeHeartbeat, encodeHeartbeat, type Heartbeat } from '../../daemon/pair/heartbeat.js';
import { waitFor } from '../helpers/shared.js';
import { freeUdpPort } from './udp-relay.js';

const KEY = 'pair-test-key-0123456789abcdef';
const beat: Heartbeat = { v: 1, device: 'b', boot: 'boot-1', seq: 7, role: 'active', epoch: 4, preferred: false };

test('a heartbeat signed with the pair key decodes; another key, a changed byte or a missing signature does not', () => {
  assert.deepEqual(decodeHeartbeat(encodeHeartbeat(beat, KEY), KEY), { beat });
  assert.deepEqual(decodeHeartbeat(encodeHeartbeat(beat, `${KEY}x`), KEY), { error: 'bad signature' });
  const forged = Buffer.from(encodeHeartbeat(beat, KEY).toString().replace('"epoch":4', '"epoch":9'));
  assert.deepEqual(decodeHeartbeat(forged, KEY), { error: 'bad signature' });
  assert.deepEqual(decodeHeartbeat(Buffer.from(JSON.stringify(beat)), KEY), { error: 'no signature' });
});

test('over real UDP: the peer\'s heartbeats arrive in order; a replayed datagram and a forged one are dropped and counted', async (t) => {
  const port = await freeUdpPort();
  const got: Heartbeat[] = [];
  const link = new HeartbeatLink({
    listen: { host: '127.0.0.1', port }, peer: { host: '127.0.0.1', port: 9 }, key: KEY,
    onBeat: (b) => got.push(b), onDropped: () => undefined,
  });
  await link.start();
  t.after(() => link.close());
  const sender = createSocket('udp4');
  t.after(() => sender.close());
  const send = (data: Buffer): Promise<void> => new Promise((resolve, reject) => sender.send(data, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  await send(encodeHeartbeat(beat, KEY));
  await send(encodeHeartbeat({ ...beat, seq: 8 }, KEY));
  await waitFor('two heartbeats', () => (got.length === 2 ? true : undefined));
  await send(encodeHeartbeat(beat, KEY)); // seq 7 again: a replay
  await send(encodeHeartbeat({ ...beat, seq: 9 }, 'another key entirely!'));
  await waitFor('two drops', () => (link.dropped === 2 ? true : undefined));
  // A restarted peer (a new boot) may start its sequence again.
  await send(encodeHeartbeat({ ...beat, boot: 'boot-2', seq: 0 }, KEY));
  await waitFor('the restarted peer\'s heartbeat', () => (got.length === 3 ? true : undefined));
  assert.deepEqual(got.map((b) => `${b.boot}/${b.seq}`), ['boot-1/7', 'boot-1/8', 'boot-2/0']);
});

test('pair config: enabled without a peer, its device id or a key is refused with each path; a short key too', () => {
  const base = { device: { id: 'a', site: 's' }, mqtt: { url: 'mqtt://127.0.0.1:1883' } };
  assert.throws(() => validateConfig({ ...base, pair: { enabled: true } }, 'vigil.yaml'),
    (err: Error) => ['pair.peer', 'pair.peer_device', 'pair.key'].every((p) => err.message.includes(p)));
  assert.throws(() => validateConfig({ ...base, pair: { enabled: true, peer: '10.0.0.2:7420', peer_device: 'b', key: 'short' } }, 'vigil.yaml'),
    /pair\.key/);
  assert.throws(() => validateConfig({ ...base, pair: { peer: 'no-port' } }, 'vigil.yaml'), /pair\.peer/);
  const cfg = validateConfig({ ...base, pair: { enabled: true, peer: '10.0.0.2:7420', peer_device: 'b', key: KEY } }, 'vigil.yaml');
  assert.deepEqual([cfg.pair.heartbeat_ms, cfg.pair.misses, cfg.pair.hand_back, cfg.pair.mode], [1000, 3, 'stay', 'warm']);
  assert.equal(validateConfig(base, 'vigil.yaml').pair.enabled, false);
});
