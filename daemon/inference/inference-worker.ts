/**
 * One model's onnxruntime session, in a worker thread of its own (see worker-detector.ts for why).
 * It fills the input tensor, runs the model and decodes the outputs (the whole of `Detector.detect`),
 * so the main thread only copies a frame into a shared slot and receives a few detections.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { errorMessage } from '../errors.js';
import type { Frame } from '../video/frame.js';
import { loadDetector, type Detector } from './detector.js';
import type { FromWorker, ToWorker, WireError, WorkerInit } from './worker-protocol.js';

function wire(err: unknown): WireError {
  return { name: err instanceof Error ? err.name : 'Error', message: errorMessage(err) };
}

async function serve(port: NonNullable<typeof parentPort>, init: WorkerInit): Promise<void> {
  const send = (m: FromWorker): void => port.postMessage(m);
  // Log lines go to the parent's logger, which adds the daemon's bindings and destination.
  const log = pino({ level: init.logLevel, base: null, timestamp: false }, {
    write(line: string): void {
      const record = JSON.parse(line) as Record<string, unknown>;
      const level = typeof record['level'] === 'number' ? record['level'] : 30;
      delete record['level'];
      send({ type: 'log', level, record });
    },
  });
  let detector: Detector;
  try {
    detector = await loadDetector(init.options, log);
  } catch (err) {
    send({ type: 'load-failed', error: wire(err) });
    return;
  }
  const slots = init.slots.map((s) => new Uint8Array(s));
  send({ type: 'ready', info: detector.info, labels: [...detector.labels], inputSize: detector.inputSize() });

  port.on('message', (m: ToWorker) => {
    if (m.type === 'close') {
      void detector.close().finally(() => {
        send({ type: 'closed' });
        port.close();
      });
      return;
    }
    const pixels = m.slot !== null ? slots[m.slot] : m.data;
    if (pixels === undefined) {
      send({ type: 'failed', id: m.id, error: { name: 'Error', message: `frame ${m.frame.seq} of ${m.frame.streamId} arrived without pixels` } });
      return;
    }
    const data = pixels.subarray(0, m.frame.width * m.frame.height * 4) as Frame['data'];
    const frame: Frame = { ...m.frame, data };
    detector.detect(frame, m.scoreThreshold !== undefined ? { scoreThreshold: m.scoreThreshold } : {}).then((detections) => {
      const t = detector.last ?? { preMs: NaN, runMs: NaN, postMs: NaN };
      send({ type: 'result', id: m.id, detections, preMs: t.preMs, runMs: t.runMs, postMs: t.postMs });
    }, (err: unknown) => {
      send({ type: 'failed', id: m.id, error: wire(err) });
    });
  });
}

// Loaded as a plain module (the test runner walking dist/, an import by mistake) it does nothing.
if (!isMainThread && parentPort !== null && (workerData as { options?: unknown } | null)?.options !== undefined) {
  void serve(parentPort, workerData as WorkerInit);
}
