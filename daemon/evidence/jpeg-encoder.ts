import type { Frame } from '../video/frame.js';
import { i420Layout } from '../video/full-frame.js';

/** Packed 32-bit pixels, rows unpadded (a frame's layout; see video/frame.ts). */
export interface RawImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly format: Frame['format'];
}

/**
 * Planar I420 in GStreamer's default layout (video/full-frame.ts), a full-resolution frame, and the
 * size of the JPEG made of it: the encoder scales (in GStreamer, off the main thread).
 */
export interface I420Image {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly format: 'I420';
  readonly outWidth: number;
  readonly outHeight: number;
}

export type EncodableImage = RawImage | I420Image;

/**
 * Turns pixels into a JPEG off the caller's thread. Implementations: GStreamer's encoder element
 * (`jpegenc`, or `nvjpegenc` on a Jetson; gst-jpeg-encoder.ts) and jpeg-js in a worker thread
 * (js-jpeg-encoder.ts), the fallback where GStreamer has none.
 */
export interface JpegEncoder {
  /** What encodes (an element name, or `jpeg-js`), for the status. */
  readonly name: string;
  /** The caller may reuse `image.data` as soon as this returns (it is copied or transferred). */
  encode(image: EncodableImage, quality: number): Promise<Buffer>;
  /** Rejects the encodings still pending and frees the encoder's threads. */
  close(): Promise<void>;
}

/** The encoder cannot work here at all (an element missing, a pipeline that cannot be built). */
export class JpegEncoderUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JpegEncoderUnavailable';
  }
}

/** Checks the pixel buffer against its geometry: a short buffer must not reach a native encoder. */
export function checkImage(image: EncodableImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`snapshot size ${width}x${height} is not a positive whole number of pixels`);
  }
  if (image.format === 'I420') {
    const { outWidth, outHeight } = image;
    if (!Number.isInteger(outWidth) || !Number.isInteger(outHeight) || outWidth < 1 || outHeight < 1) {
      throw new Error(`snapshot output size ${outWidth}x${outHeight} is not a positive whole number of pixels`);
    }
    const need = i420Layout(width, height).size;
    if (data.length < need) throw new Error(`snapshot of ${width}x${height} I420 needs ${need} bytes, got ${data.length}`);
    return;
  }
  if (data.length !== width * height * 4) {
    throw new Error(`snapshot of ${width}x${height} ${image.format} needs ${width * height * 4} bytes, got ${data.length}`);
  }
}
