import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StatePayload } from '../../daemon/uplink/payloads.js';
import type { StateInfo } from '../../daemon/uplink/uplink.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/shared.js';
import { mqttConfig, openStore, startUplink, stateTopic, subscribe } from './harness.js';

const streamStates = (messages: { json: unknown }[]): string[] =>
  messages.map((m) => (m.json as StatePayload).streams.map((s) => s.state).join(',') || '-');

test('the retained state follows the device: a stream that starts playing is republished without being asked, and only changes are', async (t) => {
  const broker = await startMosquitto(t);
  const store = await openStore(t);
  let state: StateInfo = { version: '1.0.0', providers: ['cpu'], streams: [{ id: 'gate', state: 'starting' }] };
  const hub = await subscribe(t, broker.url, stateTopic);
  const uplink = startUplink(t, { config: mqttConfig(broker.url), outbox: store, state: () => state, stateCheckMs: 100 });
  await waitFor('the online state', () => (streamStates(hub.messages).includes('starting') ? true : undefined));
  assert.ok(uplink.status().connected);

  state = { ...state, streams: [{ id: 'gate', state: 'playing', decoder: 'avdec_h264' }] };
  await waitFor('playing, republished by the watch', () => (streamStates(hub.messages).includes('playing') ? true : undefined));
  state = { ...state, streams: [{ id: 'gate', state: 'backoff' }] };
  await waitFor('backoff, republished by the watch', () => (streamStates(hub.messages).includes('backoff') ? true : undefined));
  // The checks between the changes found nothing new: one message per state, no repeats.
  assert.deepEqual(streamStates(hub.messages), ['starting', 'playing', 'backoff']);

  // A hub that connects later reads the device as it is now, not as it was at connect.
  const late = await subscribe(t, broker.url, stateTopic);
  const retained = await waitFor('the retained state', () => late.messages.find((m) => m.retain));
  assert.deepEqual(streamStates([retained]), ['backoff']);
});
