import { Worker } from 'node:worker_threads';
import type { Sample, TrainOptions, Weights } from './model.js';

/**
 * Runs one round of local training in a worker thread, so the event loop (and with it the frame
 * path, the uplink and the control socket) never waits on it. A fresh worker per round: rounds are
 * minutes apart, and a worker that is gone cannot leak memory between them. Bounded by the caller
 * (samples × epochs) and by a deadline after which the worker is terminated.
 */
export async function trainInWorker(start: Weights, samples: readonly Sample[], opts: TrainOptions, timeoutMs = 60_000): Promise<Weights> {
  const dim = start.length - 1;
  const xs = new Float32Array(samples.length * dim);
  const ys = new Uint8Array(samples.length);
  samples.forEach((s, i) => {
    xs.set(s.x, i * dim);
    ys[i] = s.y;
  });
  const worker = new Worker(new URL('./train-worker.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: 256 } });
  try {
    return await new Promise<Weights>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`local training did not finish within ${timeoutMs} ms`)), timeoutMs);
      worker.once('message', (m: { ok: true; weights: Float64Array } | { ok: false; error: string }) => {
        clearTimeout(timer);
        if (m.ok) resolve(m.weights);
        else reject(new Error(`local training failed: ${m.error}`));
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`training worker exited with code ${code}`));
      });
      worker.postMessage({ start: Float64Array.from(start), xs, ys, dim, opts }, [xs.buffer, ys.buffer]);
    });
  } finally {
    await worker.terminate();
  }
}
