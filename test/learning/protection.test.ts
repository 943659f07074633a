import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import { learningConfigSchema, type LearningConfig } from '../../daemon/learning/config.js';
import { DeviceLearner, type Review } from '../../daemon/learning/device-learner.js';
import { FEATURE_DIM } from '../../daemon/learning/features.js';
import { flUpdateSchema, signedBytes, type FlUpdate } from '../../daemon/learning/fl-payloads.js';
import { HubAggregator } from '../../daemon/learning/hub-aggregator.js';
import { LearningStore } from '../../daemon/learning/learning-store.js';
import { encodeVector, l2norm } from '../../daemon/learning/model.js';
import { openUpdate, sealUpdate } from '../../daemon/learning/sealed-update.js';
import { signModel } from '../../daemon/learning/signed-model.js';
import { flModelTopic } from '../../daemon/learning/topics.js';
import { mqttSchema } from '../../daemon/config/schema.js';
import { silentLogger } from '../../daemon/log.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { Uplink } from '../../daemon/uplink/uplink.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { captureLogger } from '../uplink/harness.js';
import { siteKeys, type SiteKeys } from './fl-fixtures.js';
import { deviceData, makeWorld } from './synthetic.js';

const site = 'plaza';
const LENGTH = FEATURE_DIM + 1;

interface TestContext { after(fn: () => Promise<void> | void): void }

async function startHub(t: TestContext, url: string, keys: SiteKeys, minParticipants: number): Promise<HubAggregator> {
  const hub = new HubAggregator({
    url, site, group: 'fl', registry: new Map([...keys.registry].map(([d, k]) => [d, createPublicKey(k)])),
    signKey: keys.hubSign, decryptKey: keys.hubDecrypt, rule: 'fedavg', minParticipants, roundTimeoutMs: 60_000,
    length: LENGTH, log: silentLogger(),
  });
  t.after(() => hub.stop());
  await hub.start(new AbortController().signal);
  return hub;
}

function smallDelta(seed: number): Float64Array {
  return Float64Array.from({ length: LENGTH }, (_, i) => Math.sin(i * 0.37 + seed) * 0.01);
}

test('the hub refuses tampered, replayed, stale, unsigned, unknown and undecryptable updates, and keeps the good ones', async (t) => {
  const broker = await startMosquitto(t);
  const keys = siteKeys(3);
  const hub = await startHub(t, broker.url, keys, 2);
  const pub = await connectAsync(broker.url, { protocolVersion: 5 });
  t.after(() => pub.endAsync(true));
  const send = (u: unknown, device = 'cam-0'): Promise<unknown> =>
    pub.publishAsync(`vigil/v1/${site}/${device}/fl/update`, typeof u === 'string' ? u : JSON.stringify(u), { qos: 1 });
  const seal = (device: number, round: number, delta = smallDelta(device), signer = keys.devices[device]!, hubEncrypt = createPublicKey(keys.hubDecrypt)): FlUpdate =>
    sealUpdate({ site, device: `cam-${device}`, round, samples: 100 }, delta, { hubEncrypt, deviceSign: signer });
  const refusals = (): number => Object.values(hub.stats().refused).reduce((a, b) => a + b, 0);
  const expectRefusal = async (reason: string, what: () => Promise<unknown>): Promise<void> => {
    const before = hub.stats().refused[reason as keyof ReturnType<HubAggregator['stats']>['refused']] ?? 0;
    await what();
    await waitFor(`refusal ${reason}`, () => ((hub.stats().refused[reason as 'malformed'] ?? 0) > before ? true : undefined));
  };

  const good = seal(0, 0);
  await send(good);
  await waitFor('the good update', () => (hub.stats().accepted === 1 ? true : undefined));
  await expectRefusal('replayed', () => send(good));

  // Tampering: a changed ciphertext byte, a changed header field (samples inflated), each under the original signature.
  const ct = Buffer.from(good.ct, 'base64');
  ct[10] = ct[10]! ^ 0x01;
  const tampered = seal(1, 0);
  await expectRefusal('bad_signature', () => send({ ...tampered, ct: ct.toString('base64') }, 'cam-1'));
  await expectRefusal('bad_signature', () => send({ ...seal(1, 0), samples: 100_000 }, 'cam-1'));
  // Signed by a key that is not the registered one (an impostor claiming to be cam-1).
  await expectRefusal('bad_signature', () => send(seal(1, 0, smallDelta(1), generateKeyPairSync('ed25519').privateKey), 'cam-1'));
  // Unsigned: no sig field at all, or an empty one.
  const unsigned: Partial<FlUpdate> = seal(1, 0);
  delete unsigned.sig;
  await expectRefusal('malformed', () => send(unsigned, 'cam-1'));
  await expectRefusal('bad_signature', () => send({ ...seal(1, 0), sig: '' }, 'cam-1'));
  await expectRefusal('malformed', () => send('not json at all', 'cam-1'));
  // A device the registry does not know, with a perfectly good signature of its own.
  const stranger = generateKeyPairSync('ed25519').privateKey;
  await expectRefusal('unknown_device', () => send(sealUpdate({ site, device: 'cam-9', round: 0, samples: 5 }, smallDelta(9),
    { hubEncrypt: createPublicKey(keys.hubDecrypt), deviceSign: stranger }), 'cam-9'));
  // Properly signed, but sealed to another hub's key: the signature holds, decryption does not.
  await expectRefusal('undecryptable', () => send(seal(1, 0, smallDelta(1), keys.devices[1], createPublicKey(generateKeyPairSync('x25519').privateKey)), 'cam-1'));
  // A future round is as wrong as a past one.
  await expectRefusal('stale_round', () => send(seal(1, 7), 'cam-1'));
  // A second update from cam-0 in the same round, with a new id: refused, the first stands.
  await expectRefusal('duplicate', () => send(seal(0, 0, smallDelta(5))));
  assert.equal(hub.currentRound, 0, 'no refused update may close a round');

  await send(seal(1, 0));
  await waitFor('round 1', () => (hub.currentRound === 1 ? true : undefined));
  // The model moved by the mean of the two accepted deltas (same sample counts), nothing else.
  const expected = smallDelta(0).map((v, i) => (v + smallDelta(1)[i]!) / 2);
  hub.model.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6, `weight ${i}: ${v} vs ${expected[i]}`));
  // Round 0 is stale now.
  await expectRefusal('stale_round', () => send(seal(2, 0), 'cam-2'));
  assert.deepEqual(hub.stats().refused, {
    replayed: 1, bad_signature: 4, malformed: 2, unknown_device: 1, undecryptable: 1, stale_round: 2, duplicate: 1,
  });
  assert.equal(refusals(), 12);
});

interface Device {
  learner: DeviceLearner;
  uplink: Uplink;
  store: EventStore;
  learning: LearningStore;
  reviews: Review[];
  lines: { level: string; msg: string; [k: string]: unknown }[];
}

async function startDevice(t: TestContext, url: string, keys: SiteKeys, index: number, learning: Partial<LearningConfig> = {}): Promise<Device> {
  const dir = await tempDir(t);
  const device = { id: `cam-${index}`, site };
  const store = EventStore.open(dir);
  const learningStore = LearningStore.open(dir);
  const samples = deviceData(makeWorld(11, 3), index, 60, 11);
  const reviews: Review[] = [];
  learningStore.putManyFeatures(samples.map((s, i) => {
    reviews.push({ eventId: `e-${i}`, verdict: s.y === 1 ? 'true_alarm' : 'false_alarm', ts: i });
    return { eventId: `e-${i}`, ts: i, vec: s.x };
  }));
  const { log, lines } = captureLogger();
  const uplink = new Uplink({ config: mqttSchema.parse({ url, reconnect_min_ms: 100, reconnect_max_ms: 1000 }), device, outbox: store, log,
    state: () => ({ version: 'test', streams: [], providers: [] }) });
  const learner = new DeviceLearner({
    config: learningConfigSchema.parse({ enabled: true, hub_sign_key: 'x', hub_encrypt_key: 'x', min_samples: 10, train_interval_s: 3600, ...learning }),
    device, store: learningStore, labels: { listReviews: () => reviews }, outbox: store, feed: uplink,
    keys: { deviceSign: keys.devices[index]!, hubVerify: createPublicKey(keys.hubSign), hubEncrypt: createPublicKey(keys.hubDecrypt) }, log,
  });
  t.after(async () => {
    await learner.stop();
    await uplink.stop();
    store.close();
    learningStore.close();
  });
  await uplink.start(new AbortController().signal);
  await learner.start(new AbortController().signal);
  return { learner, uplink, store, learning: learningStore, reviews, lines };
}

test('an update on the wire is ciphertext: only the routing header is readable, and its delta is clipped', async (t) => {
  const broker = await startMosquitto(t);
  const keys = siteKeys(1);
  const wire: Buffer[] = [];
  const spy = await connectAsync(broker.url, { protocolVersion: 5 });
  t.after(() => spy.endAsync(true));
  spy.on('message', (_topic, payload) => wire.push(Buffer.from(payload)));
  await spy.subscribeAsync(`vigil/v1/${site}/+/fl/update`, { qos: 1 });
  const hub = await startHub(t, broker.url, keys, 1);
  const dev = await startDevice(t, broker.url, keys, 0, { clip_norm: 0.5, epochs: 20 });
  await waitFor('round 1', () => (hub.currentRound === 1 ? true : undefined), 15_000);
  await waitFor('the update seen on the wire', () => wire[0]);
  const raw = wire[0]!.toString();
  const msg = flUpdateSchema.parse(JSON.parse(raw));
  assert.deepEqual(Object.keys(JSON.parse(raw) as object).sort(),
    ['alg', 'ct', 'device', 'epk', 'features', 'id', 'iv', 'length', 'round', 'samples', 'schema', 'sig', 'site', 'tag', 'ts']);
  const delta = openUpdate(msg, keys.hubDecrypt);
  const plain = encodeVector(delta);
  assert.notEqual(Buffer.from(msg.ct, 'base64').toString('base64'), plain.toString('base64'));
  assert.equal(raw.includes(plain.toString('base64').slice(0, 24)), false, 'delta bytes in clear');
  assert.equal(/\d\.\d{4,}/.test(raw), false, 'a decimal number in the payload');
  // No stored feature value appears, as text or as float32 bytes.
  const features = dev.learning.getFeatures('e-0')!;
  assert.equal(raw.includes(Buffer.from(features.buffer, features.byteOffset, 64).toString('base64').slice(0, 16)), false);
  assert.ok(l2norm(delta) <= 0.5 + 1e-4, `delta norm ${l2norm(delta)} over the clip bound 0.5`);
  assert.equal(dev.learner.status().lastSentRound, 0);
  assert.equal(dev.uplink.status().acked >= 1, true, 'the update went through the outbox and was acknowledged');
});

test('a device refuses a global model with a wrong signature, for another site, or older than its own, and uses the hub\'s', async (t) => {
  const broker = await startMosquitto(t);
  const keys = siteKeys(1);
  const dev = await startDevice(t, broker.url, keys, 0);
  const pub = await connectAsync(broker.url, { protocolVersion: 5 });
  t.after(() => pub.endAsync(true));
  const weights = Float64Array.from({ length: LENGTH }, (_, i) => (i % 7) * 0.01);
  const forged = signModel({ site, round: 3, participants: 5, samples: 500, rule: 'fedavg' }, weights, generateKeyPairSync('ed25519').privateKey);
  await pub.publishAsync(flModelTopic(site), JSON.stringify(forged), { qos: 1, retain: true });
  await waitFor('the forged model refused', () => dev.lines.find((l) => l.msg === 'global model refused'));
  assert.equal(dev.learner.round, null);

  // The real signature over different weights (tampered in transit) fails the same way.
  const real = signModel({ site, round: 2, participants: 5, samples: 500, rule: 'fedavg' }, weights, keys.hubSign);
  const tamperedWeights = Buffer.from(real.weights, 'base64');
  tamperedWeights[0] = tamperedWeights[0]! ^ 0x40;
  assert.equal(dev.learner.onModel(JSON.stringify({ ...real, weights: tamperedWeights.toString('base64') })), false);
  assert.equal(dev.learner.onModel(JSON.stringify(signModel({ site: 'elsewhere', round: 4, participants: 1, samples: 1, rule: 'fedavg' }, weights, keys.hubSign))), false);
  // A genuine signature lifted from another message (round 9) onto this one.
  assert.equal(dev.learner.onModel(JSON.stringify({ ...real, sig: sign(null, signedBytes({ ...real, round: 9 }), keys.hubSign).toString('base64') })), false);
  assert.equal(dev.learner.round, null);

  await pub.publishAsync(flModelTopic(site), JSON.stringify(real), { qos: 1, retain: true });
  await waitFor('the hub\'s model in use', () => (dev.learner.round === 2 ? true : undefined));
  const older = signModel({ site, round: 1, participants: 5, samples: 500, rule: 'fedavg' }, weights, keys.hubSign);
  assert.equal(dev.learner.onModel(JSON.stringify(older)), false);
  assert.equal(dev.learner.round, 2);
  // It survives a restart of the learner: the stored model is verified again and used.
  assert.equal(dev.learning.loadModel('global')?.round, 2);
});

test('with differential privacy the device stops sending when its budget is spent, and reports what it spent', async (t) => {
  const broker = await startMosquitto(t);
  const keys = siteKeys(1);
  const hub = await startHub(t, broker.url, keys, 1);
  const dev = await startDevice(t, broker.url, keys, 0, { dp: { enabled: true, epsilon: 4, delta: 1e-5, rounds: 2 }, clip_norm: 1 });
  await waitFor('round 2', () => (hub.currentRound === 2 ? true : undefined), 15_000);
  await waitFor('the device to find its budget spent', async () => {
    await dev.learner.idle();
    return dev.learner.status().lastOutcome === 'budget_spent' ? true : undefined;
  }, 10_000);
  const s = dev.learner.status();
  assert.equal(s.roundsSent, 2);
  assert.ok(s.privacy.epsilonSpent !== null && s.privacy.epsilonSpent <= 4 + 1e-9 && s.privacy.epsilonSpent > 3.5,
    `epsilon spent ${s.privacy.epsilonSpent}`);
  assert.ok(s.privacy.noiseMultiplier !== null && s.privacy.noiseMultiplier > 1, `noise multiplier ${s.privacy.noiseMultiplier}`);
  assert.equal(hub.currentRound, 2, 'no third round without the device');
});
