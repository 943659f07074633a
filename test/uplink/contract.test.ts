import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../daemon/errors.js';
import type { StoredEvent } from '../../daemon/store/types.js';
import { alertOutbox, alertPayload } from '../../daemon/uplink/alert-message.js';
import { readTlsMaterial } from '../../daemon/uplink/client-options.js';
import { alertSchema, stateSchema } from '../../daemon/uplink/payloads.js';
import { redactUri } from '../../daemon/util/redact.js';
import { uplinkTopics } from '../../daemon/uplink/topics.js';
import { tempDir } from '../helpers/shared.js';

const device = { id: 'box-1', site: 'plant-a' };
const event: StoredEvent = {
  id: '019a1b2c-3d4e-7f00-8a00-0123456789ab',
  ts: Date.parse('2025-03-04T05:06:07.089Z'),
  stream: 'dock',
  rule: 'forklift',
  severity: 'warning',
  kind: 'presence',
  payload: { objects: [{ label: 'truck', score: 0.5, box: [1.5, 2, 300, 400] }], extra: true },
  createdAt: 0,
  uplinkedAt: null,
};

test('topics live under vigil/v1/{site}/{device} and refuse wildcards and separators', () => {
  assert.deepEqual(uplinkTopics('plant-a', 'box-1'), {
    alerts: 'vigil/v1/plant-a/box-1/alerts',
    state: 'vigil/v1/plant-a/box-1/state',
    events: 'vigil/v1/plant-a/box-1/events',
    storage: 'vigil/v1/plant-a/box-1/storage',
    telemetry: 'vigil/v1/plant-a/box-1/telemetry',
    ack: 'vigil/v1/plant-a/box-1/ack',
    evidence: 'vigil/v1/plant-a/box-1/evidence',
    evidenceChunk: 'vigil/v1/plant-a/box-1/evidence/chunk',
  });
  for (const bad of ['a/b', 'a+', '#', '']) {
    assert.throws(() => uplinkTopics(bad, 'box-1'), /site/);
    assert.throws(() => uplinkTopics('plant-a', bad), /device/);
  }
});

test('the alert payload follows vigil.alert/1 and is routed by severity', () => {
  assert.deepEqual(alertPayload(device, event), {
    schema: 'vigil.alert/1',
    id: event.id,
    device: 'box-1',
    site: 'plant-a',
    stream: 'dock',
    rule: 'forklift',
    severity: 'warning',
    ts: '2025-03-04T05:06:07.089Z',
    objects: [{ label: 'truck', score: 0.5, box: [1.5, 2, 300, 400] }],
    kind: 'presence',
  });
  const toOutbox = alertOutbox(device);
  assert.equal(toOutbox(event).topic, 'vigil/v1/plant-a/box-1/events');
  const critical = toOutbox({ ...event, severity: 'critical' });
  assert.equal(critical.topic, 'vigil/v1/plant-a/box-1/alerts');
  assert.ok(critical.priority < toOutbox(event).priority);
  assert.equal(critical.qos, 1);
  assert.throws(() => alertPayload(device, { ...event, id: 'not-a-uuid' }));
  assert.throws(() => alertSchema.parse({ ...alertPayload(device, event), extra: 1 }), 'strict: no unknown keys');
  assert.throws(() => stateSchema.parse({ schema: 'vigil.state/1', state: 'sleeping' }));
});

test('credentials never appear in a logged URL', () => {
  assert.equal(redactUri('mqtts://user:pw@hub.example:8883'), 'mqtts://***@hub.example:8883');
  assert.equal(redactUri('mqtt://hub.example'), 'mqtt://hub.example');
  assert.equal(redactUri('mqtt://user:p@ss@hub.example'), 'mqtt://***@hub.example');
});

test('unreadable TLS files are all reported at once', async (t) => {
  const dir = await tempDir(t);
  assert.throws(() => readTlsMaterial({ ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'c.pem') }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 3);
    assert.match(err.message, /mqtt\.ca: cannot read .*ca\.pem/);
    assert.match(err.message, /mqtt\.cert and mqtt\.key/);
    return true;
  });
});
