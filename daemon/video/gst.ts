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
  /** Sets the pipeline to NULL synchronously; pending pulls then return `null` and the bus poll ends. */
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
  Pipeline: new (description: string) => GstPipeline & GstElement;
}

let binding: Binding | undefined;

/**
 * Native calls of the real binding still running on a pool thread: pending pulls, and bus polls
 * not yet seen to end. `process.exit()` joins every pool thread (libuv's threadpool cleanup), so
 * the process can only exit once this is zero: a thread blocked in GStreamer is never joined.
 */
let pending = 0;
const idleWaiters = new Set<() => void>();

function settle(): void {
  pending--;
  if (pending > 0) return;
  for (const wake of idleWaiters) wake();
  idleWaiters.clear();
}

/** How many native calls of the real binding are still blocked on pool threads. */
export function nativeCallsPending(): number {
  return pending;
}

/** Resolves `true` once no native call is pending, or `false` after `timeoutMs`. */
export function whenNativeIdle(timeoutMs: number): Promise<boolean> {
  if (pending === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const wake = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      idleWaiters.delete(wake);
      resolve(pending === 0);
    }, timeoutMs);
    idleWaiters.add(wake);
  });
}

/**
 * The binding's pipeline with its pool-thread calls counted, and a bus that can always be woken.
 *
 * The binding's bus poll blocks a pool thread in gst_bus_timed_pop with no timeout and re-queues
 * itself after each message while the pipeline is not NULL. Going to NULL, GstPipeline flushes its
 * bus (auto-flush-bus): every message queued is dropped, and nothing wakes a waiting pop. A poll
 * thread that was woken by a message but had not popped it yet, or a poll queued but not yet
 * started, then waits forever, and `process.exit()` hangs joining it. With auto-flush off, the
 * state-changed messages of the way down to NULL stay on the bus: whichever poll is pending pops
 * one, and its completion sees NULL and stops re-polling.
 */
class TrackedPipeline implements GstPipeline {
  private nulled = true;
  private polling = false;

  constructor(private readonly native: GstPipeline & GstElement) {}

  play(): void {
    this.nulled = false;
    this.native.play();
  }

  pause(): void {
    this.nulled = false;
    this.native.pause();
  }

  stop(): void {
    this.native['auto-flush-bus'] = false;
    this.native.stop();
    this.nulled = true;
  }

  seek(seconds: number, flags: number): boolean {
    return this.native.seek(seconds, flags);
  }

  queryPosition(): number {
    return this.native.queryPosition();
  }

  queryDuration(): number {
    return this.native.queryDuration();
  }

  findChild(name: string): GstElement | undefined {
    const el = this.native.findChild(name);
    return isAppSink(el) ? trackedSink(el) : el;
  }

  pollBus(callback: (msg: GstBusMessage) => void): void {
    if (this.polling) throw new Error('the bus is already polled');
    this.polling = true;
    pending++;
    this.native.pollBus((msg) => {
      try {
        callback(msg);
      } finally {
        // The binding checks for NULL right after this callback returns (which may itself have
        // stopped the pipeline, on an error or the end): at NULL it polls no more.
        if (this.nulled && this.polling) {
          this.polling = false;
          settle();
        }
      }
    });
  }
}

/** The appsink with each pull counted until its callback; everything else goes to the element. */
function trackedSink(sink: GstAppSink): GstAppSink {
  const pull = (callback: (buf: Buffer | null, caps: GstCaps) => void): void => {
    pending++;
    sink.pull((buf, caps) => {
      settle();
      callback(buf, caps);
    });
  };
  return new Proxy(sink, {
    get: (target, prop) => (prop === 'pull' ? pull : target[prop as string]),
    set: (target, prop, value) => {
      target[prop as string] = value;
      return true;
    },
  });
}

/** Loaded on first use so that modules importing types or builders never need the native addon. */
export const createPipeline: PipelineFactory = (description) => {
  binding ??= createRequire(import.meta.url)('gstreamer-superficial') as Binding;
  return new TrackedPipeline(new binding.Pipeline(description));
};

export function isAppSink(el: GstElement | undefined): el is GstAppSink {
  return el !== undefined && typeof el['pull'] === 'function';
}

export function isSampleValue(v: unknown): v is GstSampleValue {
  return typeof v === 'object' && v !== null && 'caps' in v && typeof v.caps === 'object' && v.caps !== null;
}
