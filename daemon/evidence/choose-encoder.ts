import type { EvidenceConfig } from '../config/schema.js';
import { probeRegistry, type ElementRegistry } from '../video/decoders.js';
import { chooseJpegElement, GstJpegEncoder, JPEG_ELEMENTS } from './gst-jpeg-encoder.js';
import { JsJpegEncoder } from './js-jpeg-encoder.js';
import type { JpegEncoder } from './jpeg-encoder.js';

/**
 * The snapshot encoder for `evidence.encoder`: `auto` takes GStreamer's best JPEG element
 * (nvjpegenc on a Jetson, jpegenc elsewhere) and jpeg-js only where there is none; `js` always
 * jpeg-js (a hardware encoder misbehaving on some L4T release).
 */
export async function openJpegEncoder(mode: EvidenceConfig['encoder'],
  registry: () => Promise<ElementRegistry> = () => probeRegistry(JPEG_ELEMENTS)): Promise<JpegEncoder> {
  if (mode === 'js') return new JsJpegEncoder();
  const element = chooseJpegElement(await registry());
  return element !== null ? new GstJpegEncoder({ element }) : new JsJpegEncoder();
}
