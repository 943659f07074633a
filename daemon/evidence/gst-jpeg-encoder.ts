import { errorMessage } from '../errors.js';
import { createPipeline, isAppSink, type GstAppSink, type GstElement, type GstPipeline, type PipelineFactory } from '../video/gst.js';
import type { ElementRegistry } from '../video/decoders.js';
import { i420Layout } from '../video/full-frame.js';
import { checkImage, JpegEncoderUnavailable, type EncodableImage, type JpegEncoder } from './jpeg-encoder.js';

/** GStreamer's JPEG encoders, best first, with what each needs besides itself. */
const CANDIDATES: readonly { element: string; needs: readonly string[] }[] = [
  // The Jetson's hardware encoder reads NVMM buffers, which nvvidconv (the VIC) fills from system memory.
  { element: 'nvjpegenc', needs: ['nvvidconv'] },
  { element: 'jpegenc', needs: ['videoconvert'] },
];

export const JPEG_ELEMENTS: readonly string[] = [...new Set(CANDIDATES.flatMap((c) => [c.element, ...c.needs]))];

/** The encoder element this platform's registry offers, or null where it has none. */
export function chooseJpegElement(registry: ElementRegistry): string | null {
  return CANDIDATES.find((c) => registry.has(c.element) && c.needs.every((n) => registry.has(n)))?.element ?? null;
}

/**
 * One encoding pipeline for one image geometry: pixels pushed into an appsrc, one JPEG per buffer
 * out of an appsink. 4:2:0 YUV is what every JPEG decoder reads (jpegenc would also take BGRx as
 * RGB, which some viewers show with wrong colours).
 */
export function jpegPipelineDescription(element: string, image: Pick<EncodableImage, 'width' | 'height' | 'format'> & { outWidth?: number; outHeight?: number },
  quality: number): string {
  const src = `appsrc name=src format=time caps=video/x-raw,format=${image.format},width=${image.width},height=${image.height},framerate=0/1`;
  // A full-resolution frame is scaled here, on the pipeline's thread (the VIC on a Jetson).
  const size = image.outWidth !== undefined && image.outHeight !== undefined ? `,width=${image.outWidth},height=${image.outHeight}` : '';
  const scale = size === '' || element === 'nvjpegenc' ? '' : 'videoscale ! ';
  // JFIF is full-range BT.601 (colorimetry 1:4:0:0); videoconvert's default for I420 is the
  // limited range, which every decoder would show washed out (220 blue as 204).
  const convert = element === 'nvjpegenc' ? `nvvidconv ! video/x-raw(memory:NVMM),format=I420${size}` : `${scale}videoconvert ! video/x-raw,format=I420${size},colorimetry=1:4:0:0`;
  return `${src} ! ${convert} ! ${element} quality=${quality} ! appsink name=sink sync=false`;
}

interface Job { resolve: (jpeg: Buffer) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }

interface Lane {
  key: string;
  pipeline: GstPipeline;
  src: GstElement & { push(buf: Buffer): void };
  sink: GstAppSink;
  /** Buffers pushed and not yet answered, in order: the encoder keeps order, one JPEG per buffer. */
  queue: Job[];
  pulling: boolean;
}

/** Geometries kept ready; more than this (streams at many sizes) closes the least recently used idle one. */
const MAX_LANES = 4;

export interface GstJpegOptions {
  element: string;
  /** An encoding that takes longer fails, and its pipeline is rebuilt for the next one. */
  timeoutMs?: number;
  factory?: PipelineFactory;
}

/**
 * JPEG encoding by GStreamer: about 1.5 ms for a 416×234 frame with `jpegenc` on this VM's vCPU,
 * against 30–85 ms in jpeg-js, and on a Jetson in its JPEG engine. The pixels are copied into a
 * GstBuffer by the push, and the encoding runs on the pipeline's streaming thread; the appsink
 * pull waiting for the JPEG holds one libuv pool thread only while an encoding is pending.
 */
export class GstJpegEncoder implements JpegEncoder {
  readonly name: string;
  private readonly lanes = new Map<string, Lane>();
  private readonly timeoutMs: number;
  private readonly factory: PipelineFactory;
  private closed = false;

  constructor(opts: GstJpegOptions) {
    this.name = opts.element;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.factory = opts.factory ?? createPipeline;
  }

  encode(image: EncodableImage, quality: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.closed) throw new Error('the JPEG encoder was closed');
      checkImage(image);
      const lane = this.lane(image, quality);
      const job: Job = {
        resolve, reject,
        timer: setTimeout(() => this.discard(lane, new Error(`${this.name} gave no JPEG within ${this.timeoutMs} ms`)), this.timeoutMs),
      };
      lane.queue.push(job);
      try {
        const bytes = image.format === 'I420' ? i420Layout(image.width, image.height).size : image.data.byteLength;
        lane.src.push(Buffer.from(image.data.buffer, image.data.byteOffset, bytes));
      } catch (err) {
        this.discard(lane, new Error(`cannot hand a frame to ${this.name}: ${errorMessage(err)}`));
        return;
      }
      this.pull(lane);
    });
  }

  close(): Promise<void> {
    this.closed = true;
    for (const lane of [...this.lanes.values()]) this.discard(lane, new Error('the JPEG encoder was closed'));
    return Promise.resolve();
  }

  private lane(image: EncodableImage, quality: number): Lane {
    const out = image.format === 'I420' ? ` to ${image.outWidth}x${image.outHeight}` : '';
    const key = `${image.format} ${image.width}x${image.height}${out} q${quality}`;
    const found = this.lanes.get(key);
    if (found) {
      // Most recently used last: the map's order is the eviction order.
      this.lanes.delete(key);
      this.lanes.set(key, found);
      return found;
    }
    if (this.lanes.size >= MAX_LANES) {
      const idle = [...this.lanes.values()].find((l) => l.queue.length === 0);
      if (idle) this.discard(idle, new Error('closed as unused'));
    }
    const description = jpegPipelineDescription(this.name, image, quality);
    let pipeline: GstPipeline;
    try {
      pipeline = this.factory(description);
    } catch (err) {
      throw new JpegEncoderUnavailable(`cannot build the JPEG pipeline "${description}": ${errorMessage(err)}`);
    }
    const src = pipeline.findChild('src');
    const sink = pipeline.findChild('sink');
    if (!src || typeof src['push'] !== 'function' || !isAppSink(sink)) {
      pipeline.stop();
      throw new JpegEncoderUnavailable(`the JPEG pipeline "${description}" has no appsrc/appsink`);
    }
    pipeline.play();
    const lane: Lane = { key, pipeline, src: src as Lane['src'], sink, queue: [], pulling: false };
    this.lanes.set(key, lane);
    return lane;
  }

  /** One pull at a time per lane, while JPEGs are owed: no pool thread waits when nothing is encoding. */
  private pull(lane: Lane): void {
    if (lane.pulling || lane.queue.length === 0) return;
    lane.pulling = true;
    lane.sink.pull((buf) => {
      lane.pulling = false;
      if (this.lanes.get(lane.key) !== lane) return; // discarded: its jobs were already failed
      const job = lane.queue.shift();
      if (!job) return;
      clearTimeout(job.timer);
      if (buf === null) {
        job.reject(new Error(`${this.name} stopped before giving a JPEG`));
        this.discard(lane, new Error(`${this.name} stopped`));
        return;
      }
      job.resolve(buf);
      this.pull(lane);
    });
  }

  /** Fails the lane's pending encodings and stops its pipeline (a pending pull then returns). */
  private discard(lane: Lane, err: Error): void {
    if (this.lanes.get(lane.key) === lane) this.lanes.delete(lane.key);
    const jobs = lane.queue.splice(0);
    for (const j of jobs) {
      clearTimeout(j.timer);
      j.reject(err);
    }
    lane.pipeline.stop();
  }
}
