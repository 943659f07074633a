import type { Detector, DetectOptions, DetectorProfile, InputSize } from '../inference/detector.js';
import type { Detection, DetectorInfo } from '../inference/types.js';
import { errorMessage } from '../errors.js';
import type { Frame } from '../video/frame.js';

/** One inference as the probation watch sees it. */
export interface DetectSample {
  ok: boolean;
  ms: number;
  detections: number;
  error?: string;
}

const WINDOW = 200;

/**
 * What the streams hold instead of a detector: `detect` goes to whichever model is current when
 * the call starts, so a swap takes effect between two frames. A call in flight finishes on the old
 * model, and the old one is closed only once every call it had accepted has finished, so no frame
 * of any stream is dropped or fails because of a swap, and no stream restarts.
 */
export class SwappableDetector implements Detector {
  private current: Detector;
  private currentVersion: string;
  private readonly inflight = new Map<Detector, Set<Promise<unknown>>>();
  /** The newest samples of the current model; a swap hands them over as the baseline. */
  private samples: DetectSample[] = [];
  private listener: ((s: DetectSample) => void) | null = null;

  constructor(initial: Detector, version: string) {
    this.current = initial;
    this.currentVersion = version;
  }

  get info(): DetectorInfo {
    return this.current.info;
  }

  get labels(): readonly string[] {
    return this.current.labels;
  }

  /** The current model's stage timings (the benchmark's JS-work figure); a swap starts them afresh. */
  get profile(): DetectorProfile | undefined {
    return this.current.profile;
  }

  /** Frames the current model takes at once (the inference worker: 2); see InferenceScheduler. */
  get pipelineDepth(): number {
    return this.current.pipelineDepth ?? 1;
  }

  /** Frames one run of the current model takes (its manifest's `input.max_batch`). */
  get maxBatch(): number {
    return this.current.detectBatch !== undefined ? this.current.maxBatch ?? 1 : 1;
  }

  get version(): string {
    return this.currentVersion;
  }

  inputSize(): InputSize {
    return this.current.inputSize();
  }

  /** Newest samples of the current model, oldest first. */
  recent(): readonly DetectSample[] {
    return this.samples;
  }

  /** Sees every inference of the current model (the probation watch); null stops it. */
  observe(listener: ((s: DetectSample) => void) | null): void {
    this.listener = listener;
  }

  detect(frame: Frame, opts?: DetectOptions): Promise<Detection[]> {
    return this.track(this.current, (d) => d.detect(frame, opts).then((r) => [r])).then((r) => r[0] ?? []);
  }

  /** Several frames in one run of the current model (one at a time when it takes no batches). */
  detectBatch(frames: readonly Frame[], opts?: DetectOptions): Promise<Detection[][]> {
    return this.track(this.current, (d) => d.detectBatch !== undefined && frames.length > 1
      ? d.detectBatch(frames, opts)
      : Promise.all(frames.map((f) => d.detect(f, opts))));
  }

  /** Runs `call` on `d`, records one sample per frame for the probation watch, and tracks it for swap. */
  private track(d: Detector, call: (d: Detector) => Promise<Detection[][]>): Promise<Detection[][]> {
    const started = performance.now();
    const run = call(d).then((r) => {
      const ms = performance.now() - started;
      if (d === this.current) for (const frame of r) this.record({ ok: true, ms, detections: frame.length });
      return r;
    }, (err: unknown) => {
      if (d === this.current) this.record({ ok: false, ms: performance.now() - started, detections: 0, error: errorMessage(err) });
      throw err;
    });
    let set = this.inflight.get(d);
    if (!set) this.inflight.set(d, (set = new Set()));
    const tracked = run.catch(() => undefined);
    set.add(tracked);
    void tracked.then(() => set.delete(tracked));
    return run;
  }

  private record(s: DetectSample): void {
    this.samples.push(s);
    if (this.samples.length > WINDOW) this.samples.shift();
    try {
      this.listener?.(s);
    } catch {
      // the watch must never fail a frame
    }
  }

  /**
   * Makes `next` current from the next call on. Returns the previous model's recent samples (the
   * baseline to judge `next` against) and a promise that closes the previous model once its calls
   * in flight have finished.
   */
  swap(next: Detector, version: string): { previous: Detector; baseline: DetectSample[]; retired: Promise<void> } {
    const previous = this.current;
    const baseline = this.samples;
    this.current = next;
    this.currentVersion = version;
    this.samples = [];
    const retired = (async (): Promise<void> => {
      const pending = this.inflight.get(previous);
      if (pending) await Promise.all([...pending]);
      this.inflight.delete(previous);
      await previous.close();
    })();
    return { previous, baseline, retired };
  }

  async close(): Promise<void> {
    await this.current.close();
  }
}
