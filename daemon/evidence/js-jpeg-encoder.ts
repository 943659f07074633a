import { Worker } from 'node:worker_threads';
import jpeg from 'jpeg-js';
import { errorMessage } from '../errors.js';
import { toRgba } from './draw.js';
import { i420ToRgba } from './i420-draw.js';
import { checkImage, type EncodableImage, type JpegEncoder } from './jpeg-encoder.js';

export type JsJpegJob = EncodableImage & { id: number; quality: number };
export type JsJpegResult = { id: number; ok: true; jpeg: Uint8Array } | { id: number; ok: false; error: string };

/** jpeg-js on the calling thread: tens of milliseconds for a 416×234 frame. */
export function encodeJpegJs(image: EncodableImage, quality: number): Buffer {
  checkImage(image);
  if (image.format === 'I420') {
    const rgba = i420ToRgba(image.data, image.width, image.height, image.outWidth, image.outHeight);
    return jpeg.encode({ data: rgba, width: image.outWidth, height: image.outHeight }, quality).data;
  }
  const rgba = toRgba(image.data, image.width, image.height, image.format);
  return jpeg.encode({ data: rgba, width: image.width, height: image.height }, quality).data;
}

/**
 * jpeg-js in a worker thread of its own, where GStreamer has no JPEG encoder: encoding in
 * JavaScript takes tens of milliseconds, which the analysis loop's thread must not spend. The
 * worker starts on the first encode and again after it died.
 */
export class JsJpegEncoder implements JpegEncoder {
  readonly name = 'jpeg-js';
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  /** Starts the worker now (a V8 isolate, its modules) rather than with the first snapshot. */
  prewarm(): void {
    this.ensureWorker();
  }

  encode(image: EncodableImage, quality: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      checkImage(image);
      const id = this.nextId++;
      const data = new Uint8Array(image.data);
      const job: JsJpegJob = { ...image, id, data, quality };
      this.pending.set(id, { resolve, reject });
      this.ensureWorker().postMessage(job, [data.buffer]);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
    this.failAll(new Error('the JPEG encoder was closed'));
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./jpeg-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (r: JsJpegResult) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(Buffer.from(r.jpeg.buffer, r.jpeg.byteOffset, r.jpeg.byteLength));
      else p.reject(new Error(r.error));
    });
    worker.on('error', (err) => this.failAll(new Error(`the JPEG worker failed: ${errorMessage(err)}`)));
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = null;
      this.failAll(new Error('the JPEG worker exited'));
    });
    this.worker = worker;
    return worker;
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}
