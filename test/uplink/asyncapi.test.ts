import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ASYNCAPI_FILE, buildAsyncApi, renderAsyncApi } from '../../scripts/asyncapi.js';
import { repoRoot } from '../helpers/shared.js';

test('the checked-in docs/asyncapi.json is what the payload schemas generate', async () => {
  const checkedIn = await readFile(path.join(repoRoot, ASYNCAPI_FILE), 'utf8');
  assert.equal(checkedIn, renderAsyncApi(), 'out of date: run `npm run build && node dist/scripts/asyncapi.js`');
});

test('the contract names every topic, its QoS and retain flag, and the de-duplication key', () => {
  const doc = buildAsyncApi() as {
    asyncapi: string;
    channels: Record<string, { address: string }>;
    operations: Record<string, { bindings: { mqtt: { qos: number; retain: boolean } } }>;
    components: { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown>; oneOf?: unknown[] }> };
  };
  assert.equal(doc.asyncapi, '3.0.0');
  assert.deepEqual(Object.values(doc.channels).map((c) => c.address).sort(),
    ['vigil/v1/{site}/models/{name}', 'vigil/v1/{site}/fl/model', 'vigil/v1/{site}/{device}/fl/update',
      ...['ack', 'alerts', 'audit', 'cmd/{method}', 'events', 'evidence', 'evidence/chunk', 'models', 'reply/{operator}/{session}', 'state', 'storage', 'telemetry']
        .map((l) => `vigil/v1/{site}/{device}/${l}`)].sort());
  assert.equal(doc.operations['receiveModelOffer']?.bindings.mqtt.retain, true);
  assert.equal(doc.operations['receiveFlModel']?.bindings.mqtt.retain, true);
  assert.equal(doc.operations['sendState']?.bindings.mqtt.retain, true);
  // Every message the device sends is QoS 1, except command replies, which are worthless once late.
  assert.ok(Object.entries(doc.operations).every(([name, o]) => o.bindings.mqtt.qos === (name === 'sendReply' ? 0 : 1)));
  // The alert is a union on `kind` (zone and count: on `trigger` within it); every branch carries
  // the id and the kind, and the facts that make the kind worth sending.
  type Branch = { required?: string[]; properties?: Record<string, unknown>; oneOf?: Branch[] };
  const leaves = (s: Branch | undefined): Branch[] => (s?.oneOf ? s.oneOf.flatMap(leaves) : s ? [s] : []);
  const alert = leaves(doc.components.schemas['alert'] as Branch | undefined);
  assert.equal(alert.length, 12, 'presence, 4 zone triggers, line, 3 count triggers, stationary, motion, test');
  assert.ok(alert.every((b) => b.required?.includes('id') && b.required.includes('kind')));
  const line = alert.find((b) => JSON.stringify(b.properties?.['kind']).includes('"line"'));
  assert.deepEqual(['direction', 'track_id'].filter((f) => line?.required?.includes(f)), ['direction', 'track_id']);
  assert.ok(alert.filter((b) => JSON.stringify(b.properties?.['kind']).includes('"count"')).every((b) => b.required?.includes('count')));
  // The storage message is a union on `kind`, each branch carrying the id.
  const storage = doc.components.schemas['storage'];
  assert.equal(storage?.oneOf?.length, 5, 'quarantined, evicted, evidence_refused, degraded, recovered');
  assert.match(JSON.stringify(storage), /"quarantined"/);
  assert.match(JSON.stringify(storage), /"oldest_lost_ts"/);
});
