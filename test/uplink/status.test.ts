import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/shared.js';
import { alertEvent, mqttConfig, openStore, record, startUplink } from './harness.js';

test('status shows depth and oldest age per priority, then acks and the ack rate', async (t) => {
  const broker = await startMosquitto(t);
  await broker.stop();
  const store = await openStore(t);
  for (let i = 0; i < 12; i += 1) record(store, alertEvent(i, { severity: i % 3 === 0 ? 'critical' : 'info' }));
  const uplink = startUplink(t, { config: mqttConfig(broker.url), outbox: store });
  const before = uplink.status();
  assert.deepEqual(before.outbox.map((p) => [p.priority, p.depth]), [[0, 4], [3, 8]]);
  assert.ok(before.outbox.every((p) => p.oldestAgeMs >= 0));
  assert.equal(before.inFlight, 0);
  assert.equal(before.retries, 0);

  await broker.start();
  await waitFor('the backlog to drain', () => (uplink.status().outboxDepth === 0 ? true : undefined), 15_000);
  // PUBACKs count once their second is complete, so wait for the last one's second to end.
  const after = await waitFor('the ack rate to cover all twelve', () => {
    const s = uplink.status();
    return s.ackRate >= 1.2 ? s : undefined;
  }, 3_000);
  assert.equal(after.acked, 12);
  assert.deepEqual(after.outbox, []);
  assert.equal(after.ackRate, 12 / 10, 'twelve PUBACKs over the 10 s window');
});
