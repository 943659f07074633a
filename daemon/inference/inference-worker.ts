/**
 * One model's onnxruntime session, in a worker thread of its own (see worker-detector.ts for why).
 * It runs the model on an input tensor the main thread filled and decodes the outputs, so this
 * thread spends its time in onnxruntime and the main thread receives a few detections.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { errorMessage } from '../errors.js';
import { loadDetector, type LocalDetector } from './detector.js';
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
  let detector: LocalDetector;
  try {
    detector = await loadDetector(init.options, log);
  } catch (err) {
    send({ type: 'load-failed', error: wire(err) });
    return;
  }
  send({ type: 'ready', info: detector.info, labels: [...detector.labels], inputSize: detector.inputSize(), maxBatch: detector.maxBatch });

  // When the previous request was answered; NaN until the first.
  let idleSince = NaN;
  // Requests taken and not yet answered: detectFilled queues behind the one running.
  let running = 0;
  port.on('message', (m: ToWorker) => {
    if (m.type === 'close') {
      void detector.close().finally(() => {
        send({ type: 'closed' });
        port.close();
      });
      return;
    }
    const { id, input } = m;
    const took = performance.now();
    // A request taken while the one before was still running waited for nothing (idleSince is
    // then the answer before that one, and the difference would count that run as a wait).
    const idleMs = running > 0 ? 0 : Math.max(0, took - idleSince);
    running += 1;
    detector.detectFilled(new Float32Array(input), m.placements, m.scoreThreshold !== undefined ? { scoreThreshold: m.scoreThreshold } : {})
      .then((detections) => {
        running -= 1;
        const sent = performance.now();
        // From the later of its taking and the previous answer: the thread's time counted once.
        const busyMs = sent - Math.max(took, Number.isFinite(idleSince) ? idleSince : took);
        idleSince = sent;
        port.postMessage({ type: 'result', id, detections, runMs: detector.last.runMs, postMs: detector.last.postMs,
          busyMs, idleMs, input } satisfies FromWorker, [input]);
      }, (err: unknown) => {
        running -= 1;
        idleSince = performance.now();
        port.postMessage({ type: 'failed', id, error: wire(err), input } satisfies FromWorker, [input]);
      });
  });
}

// Loaded as a plain module (the test runner walking dist/, an import by mistake) it does nothing.
if (!isMainThread && parentPort !== null && (workerData as { options?: unknown } | null)?.options !== undefined) {
  void serve(parentPort, workerData as WorkerInit);
}
