import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { EMBEDDING_DIM, FEATURE_DIM } from '../../daemon/learning/features.js';
import { HubAggregator } from '../../daemon/learning/hub-aggregator.js';
import { accuracy, train, zeroWeights } from '../../daemon/learning/model.js';
import { silentLogger } from '../../daemon/log.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import type { DeviceWorkerData } from './device-worker.js';
import { siteKeys } from './fl-fixtures.js';
import { deviceData, heldOut, makeWorld } from './synthetic.js';

const DEVICES = 5;
const ROUNDS = 10;
const PER_DEVICE = 300;
const SEED = 3;
/** In this world appearance is what separates the kinds, so its coefficients get the light penalty. */
const TRAIN = { epochs: 10, learning_rate: 0.5, clip_norm: 5, l2: 1e-3, l2_embedding: 1e-3 };

test('five devices, non-IID reviews, ten rounds through mosquitto: the global model nears central training and beats devices alone', async (t) => {
  const broker = await startMosquitto(t);
  const keys = siteKeys(DEVICES);
  const site = 'plaza';
  const hub = new HubAggregator({
    url: broker.url, site, group: 'fl', registry: new Map([...keys.registry].map(([d, k]) => [d, createPublicKey(k)])),
    signKey: keys.hubSign, decryptKey: keys.hubDecrypt, rule: 'fedavg', minParticipants: DEVICES, roundTimeoutMs: 20_000,
    length: FEATURE_DIM + 1, log: silentLogger(),
  });
  t.after(() => hub.stop());
  const rounds: string[][] = [];
  hub.on('round', (r) => rounds.push(r.participants));
  await hub.start(new AbortController().signal);

  const root = await tempDir(t);
  const workers = Array.from({ length: DEVICES }, (_, index) => {
    const data: DeviceWorkerData = {
      index, site, url: broker.url, dir: path.join(root, `cam-${index}`), perDevice: PER_DEVICE, seed: SEED,
      deviceKeyPem: keys.pem.devices[index]!, hubSignPubPem: keys.pem.hubSignPub, hubEncryptPubPem: keys.pem.hubEncryptPub,
      learning: { ...TRAIN, train_interval_s: 3600, min_samples: 20 },
    };
    const w = new Worker(new URL('./device-worker.js', import.meta.url), { workerData: data });
    t.after(() => w.terminate());
    return w;
  });
  const started = Date.now();
  await waitFor(`${ROUNDS} federated rounds`, () => (hub.currentRound >= ROUNDS ? true : undefined), 50_000, 50);
  const seconds = (Date.now() - started) / 1000;
  const status = await Promise.all(workers.map((w) => new Promise<{ round: number; roundsSent: number }>((resolve) => {
    const on = (m: { type: string; status?: { round: number; roundsSent: number } }): void => {
      if (m.type === 'status' && m.status) {
        w.off('message', on);
        resolve(m.status);
      }
    };
    w.on('message', on);
    w.postMessage({ type: 'status' });
  })));

  // Every round had every device, and every device took part in every round it was offered.
  assert.equal(rounds.length >= ROUNDS, true);
  for (const r of rounds.slice(0, ROUNDS)) assert.equal(r.length, DEVICES, `a round closed with ${r.join(', ')}`);
  for (const s of status) assert.equal(s.roundsSent >= ROUNDS, true, `a device sent only ${s.roundsSent} updates`);
  assert.deepEqual(hub.stats().refused, {});

  const world = makeWorld(SEED, DEVICES);
  const test = heldOut(world, DEVICES, 400, SEED + 1000);
  const data = Array.from({ length: DEVICES }, (_, d) => deviceData(world, d, PER_DEVICE, SEED));
  const opts = { epochs: TRAIN.epochs * ROUNDS, learningRate: TRAIN.learning_rate, l2: TRAIN.l2,
    block: { dims: EMBEDDING_DIM, l2: TRAIN.l2_embedding }, batchSize: 32, seed: 1 };
  const central = accuracy(train(zeroWeights(FEATURE_DIM), data.flat(), opts), test)!;
  const alone = data.map((d) => accuracy(train(zeroWeights(FEATURE_DIM), d, opts), test)!);
  const aloneMean = alone.reduce((a, b) => a + b, 0) / alone.length;
  const global = accuracy(hub.model, test)!;
  const pct = (v: number): string => `${(100 * v).toFixed(1)} %`;
  t.diagnostic(`${ROUNDS} rounds in ${seconds.toFixed(1)} s; held-out accuracy: federated ${pct(global)}, central ${pct(central)}, ` +
    `device alone ${alone.map(pct).join(' / ')} (mean ${pct(aloneMean)}); margin over alone ${(100 * (global - aloneMean)).toFixed(1)} points`);
  assert.ok(central - global <= 0.03, `federated ${pct(global)} is more than 3 points below central ${pct(central)}`);
  assert.ok(global - aloneMean >= 0.1, `federated ${pct(global)} does not beat devices alone (${pct(aloneMean)}) by 10 points`);
  await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
    w.on('message', (m: { type: string }) => { if (m.type === 'stopped') resolve(); });
    w.postMessage({ type: 'stop' });
  })));
});
