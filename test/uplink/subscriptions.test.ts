import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import { topicMatches } from '../../daemon/uplink/topics.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/shared.js';
import { device, mqttConfig, openStore, startUplink } from './harness.js';

test('topic filters match MQTT wildcards the way the broker does', () => {
  const yes: [string, string][] = [
    ['a/b/c', 'a/b/c'], ['a/+/c', 'a/x/c'], ['a/#', 'a/b/c'], ['a/#', 'a'], ['#', 'a/b'], ['+/+', 'a/b'], ['a/+', 'a/'],
  ];
  const no: [string, string][] = [
    ['a/b/c', 'a/b'], ['a/b', 'a/b/c'], ['a/+/c', 'a/x/y'], ['a/+', 'a/b/c'], ['a/#', 'b/c'], ['+', 'a/b'],
  ];
  for (const [f, t] of yes) assert.ok(topicMatches(f, t), `${f} should match ${t}`);
  for (const [f, t] of no) assert.ok(!topicMatches(f, t), `${f} should not match ${t}`);
});

test('subscriptions deliver messages and survive a lost connection', async (t) => {
  const broker = await startMosquitto(t);
  const store = await openStore(t);
  const uplink = startUplink(t, { config: mqttConfig(broker.url), outbox: store });
  const got: string[] = [];
  const filter = `vigil/v1/${device.site}/${device.id}/cmd/+`;
  uplink.subscribe(filter, (topic, payload) => got.push(`${topic}=${payload.toString()}`));
  await waitFor('the uplink to connect', () => uplink.status().connected || undefined);
  const hub = await connectAsync(broker.url, { protocolVersion: 5 });
  t.after(() => hub.endAsync());

  const send = async (text: string): Promise<void> => {
    await hub.publishAsync(`vigil/v1/${device.site}/${device.id}/cmd/status`, text, { qos: 1 });
    await hub.publishAsync(`vigil/v1/${device.site}/other/cmd/status`, `not-for-us-${text}`, { qos: 1 });
  };
  // The SUBACK may trail the CONNACK: keep sending until one arrives.
  await waitFor('the first command', async () => { await send('one'); return got.length > 0 || undefined; });
  assert.ok(got.every((g) => g === `vigil/v1/${device.site}/${device.id}/cmd/status=one`), got.join());

  const before = uplink.status().disconnects;
  uplink.client?.stream.destroy();
  await waitFor('a reconnect', () => (uplink.status().connected && uplink.status().disconnects > before) || undefined);
  got.length = 0;
  await waitFor('a command after the reconnect', async () => { await send('two'); return got.length > 0 || undefined; });
  assert.ok(got.every((g) => g.endsWith('=two')), got.join());

  const replies: string[] = [];
  await hub.subscribeAsync(`vigil/v1/${device.site}/${device.id}/reply`, { qos: 1 });
  hub.on('message', (topic, payload) => { if (topic.endsWith('/reply')) replies.push(payload.toString()); });
  await uplink.publishDirect(`vigil/v1/${device.site}/${device.id}/reply`, 'pong');
  await waitFor('the direct publish at the hub', () => replies.includes('pong') || undefined);
});
