import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../errors.js';
import { encodeJpegJs, type JsJpegJob, type JsJpegResult } from './js-jpeg-encoder.js';

/** The jpeg-js encoder's thread (see JsJpegEncoder). */
parentPort?.on('message', (job: JsJpegJob) => {
  let result: JsJpegResult;
  try {
    const encoded = encodeJpegJs(job, job.quality);
    result = { id: job.id, ok: true, jpeg: new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.length) };
  } catch (err) {
    result = { id: job.id, ok: false, error: errorMessage(err) };
  }
  // The JPEG's memory moves to the main thread instead of being copied, when it owns its buffer.
  const transfer = result.ok && result.jpeg.byteOffset === 0 && result.jpeg.byteLength === result.jpeg.buffer.byteLength
    ? [result.jpeg.buffer as ArrayBuffer] : [];
  parentPort?.postMessage(result, transfer);
});
