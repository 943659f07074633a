import { createPrivateKey, createPublicKey } from 'node:crypto';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { learningConfigSchema, type LearningConfig } from '../../daemon/learning/config.js';
import { DeviceLearner, type Review } from '../../daemon/learning/device-learner.js';
import { LearningStore } from '../../daemon/learning/learning-store.js';
import { silentLogger } from '../../daemon/log.js';
import { mqttSchema } from '../../daemon/config/schema.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { Uplink } from '../../daemon/uplink/uplink.js';
import { deviceData, makeWorld } from './synthetic.js';

/**
 * One simulated device in its own thread: the real device-side module (DeviceLearner with its
 * learning.db), the real event store's outbox and the real uplink to the test's mosquitto. Its
 * reviewed events are synthetic (test/learning/synthetic.ts).
 */
export interface DeviceWorkerData {
  index: number;
  site: string;
  url: string;
  dir: string;
  perDevice: number;
  seed: number;
  deviceKeyPem: string;
  hubSignPubPem: string;
  hubEncryptPubPem: string;
  learning: Partial<LearningConfig>;
}

/** The simulated device's life; the module is also loaded, and must do nothing, when `node --test dist/test/` walks the folder. */
async function run(port: MessagePort): Promise<void> {
  const data = workerData as DeviceWorkerData;
  const device = { id: `cam-${data.index}`, site: data.site };
  const store = EventStore.open(data.dir);
  const learning = LearningStore.open(data.dir);
  const world = makeWorld(data.seed, 5);
  const samples = deviceData(world, data.index, data.perDevice, data.seed);
  const reviews: Review[] = [];
  const t0 = Date.UTC(2026, 10, 1);
  learning.putManyFeatures(samples.map((s, i) => {
    const eventId = `${device.id}-ev-${i}`;
    reviews.push({ eventId, verdict: s.y === 1 ? 'true_alarm' : 'false_alarm', ts: t0 + i });
    return { eventId, ts: t0 + i, vec: s.x };
  }));

  const log = silentLogger();
  const uplink = new Uplink({
    config: mqttSchema.parse({ url: data.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 }), device, outbox: store, log,
    state: () => ({ version: 'sim', streams: [], providers: [] }),
  });
  const learner = new DeviceLearner({
    config: learningConfigSchema.parse({ enabled: true, hub_sign_key: 'x', hub_encrypt_key: 'x', holdout: 0, ...data.learning }),
    device, store: learning, labels: { listReviews: () => reviews }, outbox: store, feed: uplink,
    keys: {
      deviceSign: createPrivateKey(data.deviceKeyPem), hubVerify: createPublicKey(data.hubSignPubPem),
      hubEncrypt: createPublicKey(data.hubEncryptPubPem),
    }, log,
  });

  const signal = new AbortController().signal;
  await uplink.start(signal);
  await learner.start(signal);
  port.postMessage({ type: 'ready' });
  port.on('message', (m: { type: 'status' } | { type: 'stop' }) => {
    void (async () => {
      if (m.type === 'status') {
        port.postMessage({ type: 'status', status: learner.status() });
        return;
      }
      await learner.stop();
      await uplink.stop();
      store.close();
      learning.close();
      port.postMessage({ type: 'stopped' });
    })();
  });
}

if (parentPort !== null) await run(parentPort);
