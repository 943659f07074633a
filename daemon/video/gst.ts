import { createRequire } from 'node:module';

/**
 * Typed face of gstreamer-superficial, which ships no types. Only what Vigil uses is declared.
 * Threads: every pending `pull()` and the bus poll each block one libuv thread-pool thread, so a
 * running stream holds two of them (see `threadpool.ts`).
 */

/** A GstStructure flattened into an object; caps and bus messages arrive in this shape. */
export interface GstStructure {
  readonly name?: string;
  readonly [field: string]: unknown;
}

export interface GstCaps extends GstStructure {
  readonly width?: number;
  readonly height?: number;
  readonly format?: string;
}

export interface GstBusMessage extends GstStructure {
  /** 'error', 'eos', 'warning', 'state-changed', ... (GST_MESSAGE_TYPE_NAME). */
  readonly type: string;
  readonly _src_element_name?: string;
  /** For errors: the GError message; the debug string is not exposed by the binding. */
  readonly message?: string;
}

/** What a `GstSample`-valued property such as fakesink's `last-sample` reads as. */
export interface GstSampleValue {
  readonly buf: Buffer | null;
  readonly caps: GstCaps;
}

/** Any element: its GObject properties read and write as plain properties. */
export type GstElement = Record<string, unknown>;

export interface GstAppSink extends GstElement {
  /** Calls back once with the next sample, or with `null` at EOS or when the sink is flushing. */
  pull(callback: (buf: Buffer | null, caps: GstCaps) => void): void;
}

export interface GstPipeline {
  play(): void;
  pause(): void;
  /** Sets the pipeline to NULL synchronously; pending pulls then return `null`. */
  stop(): void;
  /** `seconds` is truncated to an integer by the binding. */
  seek(seconds: number, flags: number): boolean;
  queryPosition(): number;
  queryDuration(): number;
  findChild(name: string): GstElement | undefined;
  /** Re-polls after each message until the pipeline is in the NULL state. */
  pollBus(callback: (msg: GstBusMessage) => void): void;
}

export const SeekFlags = { flush: 1, accurate: 2, keyUnit: 4 } as const;

export type PipelineFactory = (description: string) => GstPipeline;

interface Binding {
  Pipeline: new (description: string) => GstPipeline;
}

let binding: Binding | undefined;

/** Loaded on first use so that modules importing types or builders never need the native addon. */
export const createPipeline: PipelineFactory = (description) => {
  binding ??= createRequire(import.meta.url)('gstreamer-superficial') as Binding;
  const pipeline = new binding.Pipeline(description);
  // The binding's bus poll blocks a pool thread in gst_bus_timed_pop with no timeout, and stops
  // re-polling only once it wakes to find the pipeline NULL. With auto-flush the bus is set
  // flushing on the way to NULL and the state-changed messages that would wake it are dropped: a
  // pipeline stopped soon after it started (a stream removed or restarted live) then kept one pool
  // thread blocked forever, which also made process.exit() hang joining the pool.
  (pipeline as unknown as { 'auto-flush-bus': boolean })['auto-flush-bus'] = false;
  return pipeline;
};

export function isAppSink(el: GstElement | undefined): el is GstAppSink {
  return el !== undefined && typeof el['pull'] === 'function';
}

export function isSampleValue(v: unknown): v is GstSampleValue {
  return typeof v === 'object' && v !== null && 'caps' in v && typeof v.caps === 'object' && v.caps !== null;
}
