import { parentPort } from 'node:worker_threads';
import { runSnapshotJob, type SnapshotJob } from './snapshot-job.js';

/**
 * The snapshot encoder's thread: JPEG encoding of a 416×416 frame in JavaScript takes tens of
 * milliseconds, which the analysis loop's thread must not spend.
 */
parentPort?.on('message', (job: SnapshotJob) => {
  const result = runSnapshotJob(job);
  // The JPEG's memory moves to the main thread instead of being copied.
  parentPort?.postMessage(result, result.ok && result.jpeg.byteOffset === 0 && result.jpeg.byteLength === result.jpeg.buffer.byteLength
    ? [result.jpeg.buffer as ArrayBuffer] : []);
});
