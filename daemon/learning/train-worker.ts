import { parentPort } from 'node:worker_threads';
import { train, type Sample, type TrainOptions } from './model.js';

/** The training job's thread: one message in, the trained weights out. Never runs on the frame path. */
export interface TrainJob {
  start: Float64Array;
  /** n × dim, row-major. */
  xs: Float32Array;
  ys: Uint8Array;
  dim: number;
  opts: TrainOptions;
}

parentPort?.on('message', (job: TrainJob) => {
  try {
    const samples: Sample[] = [];
    for (let i = 0; i < job.ys.length; i++) {
      samples.push({ x: job.xs.subarray(i * job.dim, (i + 1) * job.dim), y: job.ys[i] === 1 ? 1 : 0 });
    }
    const w = train(job.start, samples, job.opts);
    parentPort?.postMessage({ ok: true, weights: w }, [w.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort?.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
});
