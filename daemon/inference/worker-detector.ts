import { SHARE_ENV, Worker } from 'node:worker_threads';
import { errorMessage, ModelError } from '../errors.js';
import type { Logger } from '../log.js';
import { Backoff } from '../util/backoff.js';
import { SampleRing } from '../util/sample-ring.js';
import type { Frame } from '../video/frame.js';
import { checkBatchSize, type Detector, type DetectOptions, type DetectorOptions, type DetectorProfile, type InputSize } from './detector.js';
import { batchProfileOf, loadManifest } from './manifest.js';
import { Preprocessor, type BatchTarget } from './preprocess.js';
import { missingProviderLibrary, prepareTensorRtEnv } from './session.js';
import type { Detection, DetectorInfo, Placement } from './types.js';
import type { FromWorker, ToWorker, WireError, WorkerInit } from './worker-protocol.js';

/**
 * Input tensors kept per model. The scheduler hands a model at most `pipelineDepth` frames at once;
 * the rest cover direct callers (self-test, warm-up). Beyond them a tensor is allocated for the
 * frame and dropped when it comes back.
 */
const POOL = 4;
const CLOSE_TIMEOUT_MS = 5000;
/** Restarts of a dead worker: 1 s, growing to 30 s while it keeps dying; a minute serving frames starts afresh. */
const RESPAWN = { minMs: 1000, maxMs: 30_000, healthyAfterMs: 60_000 } as const;

function fromWire(e: WireError): Error {
  if (e.name === 'ModelError') return new ModelError(e.message);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

const LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal',
};

function logFromWorker(log: Logger, m: FromWorker): void {
  if (m.type !== 'log') return;
  const level = LEVELS[m.level] ?? 'info';
  const { msg, ...fields } = m.record;
  log[level](fields, typeof msg === 'string' ? msg : '');
}

/**
 * Session creation reads ORT_TENSORRT_* from the process environment, which every thread shares
 * (the worker runs with SHARE_ENV). One model at a time sets it and creates its session, so two
 * loads never see each other's engine cache path or precision.
 */
let envLock: Promise<unknown> = Promise.resolve();

interface Started {
  worker: Worker;
  info: DetectorInfo;
  labels: string[];
  inputSize: InputSize;
  maxBatch: number;
}

function startWorker(init: WorkerInit, log: Logger, onMessage: (m: FromWorker) => void): Promise<Started> {
  const run = envLock.then(() => new Promise<Started>((resolve, reject) => {
    const o = init.options;
    if (o.providers.includes('tensorrt') && missingProviderLibrary('tensorrt') === null) {
      prepareTensorRtEnv(o.engineCacheDir, o.precision, log, init.batchProfile);
    }
    const worker = new Worker(new URL('./inference-worker.js', import.meta.url), {
      workerData: { ...init, options: { ...o, prepareEnv: false } } satisfies WorkerInit, env: SHARE_ENV,
    });
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      void worker.terminate();
      reject(err);
    };
    worker.on('message', (m: FromWorker) => {
      if (settled) {
        onMessage(m);
        return;
      }
      if (m.type === 'ready') {
        settled = true;
        resolve({ worker, info: m.info, labels: m.labels, inputSize: m.inputSize, maxBatch: m.maxBatch });
      } else if (m.type === 'load-failed') {
        fail(fromWire(m.error));
      } else {
        onMessage(m);
      }
    });
    worker.once('error', (err) => fail(new ModelError(`inference worker for model ${o.name} failed while loading: ${errorMessage(err)}`)));
    worker.once('exit', (code) => fail(new ModelError(`inference worker for model ${o.name} exited with code ${code} while loading`)));
  }));
  envLock = run.catch(() => undefined);
  return run;
}

interface Pending {
  resolve: (d: Detection[][]) => void;
  reject: (err: Error) => void;
  /** The tensor in the worker: its frames' padding layouts, for when it comes back. */
  pooled: BatchTarget;
  preMs: number;
  /** Resolves once the frame's result or error is in, whichever it was (close waits for these). */
  settled: Promise<void>;
}

/**
 * A detector whose onnxruntime session lives in a worker thread. onnxruntime-node's `run()` is
 * synchronous native code on the calling thread (measured: the event loop stood still for the whole
 * 32 ms of every NanoDet-m run), so in-process inference stops pulls, rules, SQLite commits and
 * PUBACKs for every frame. In a worker, the main thread is free while the model runs, and frames
 * can be handed in while the previous one runs (`pipelineDepth`): the model never waits for the
 * main thread's work between two frames.
 *
 * The main thread fills the input tensor: it is mostly idle, and the worker's thread is the one
 * that bounds throughput. (On the 2-vCPU development VM this measured neutral: work on the second
 * vCPU slows the first about as much; on a Jetson's free cores it is off the inference path.) The
 * tensor travels to the worker and back as a transferred ArrayBuffer (onnxruntime-node refuses a
 * shared one), so no pixels are copied and nothing is allocated per frame in steady state.
 */
export class WorkerDetector implements Detector {
  readonly profile: DetectorProfile = {
    preMs: new SampleRing(), runMs: new SampleRing(), postMs: new SampleRing(), idleMs: new SampleRing(), busy: { totalMs: 0 },
  };
  /** Frames worth handing in at once: one running, one filled and waiting. */
  readonly pipelineDepth = 2;
  /** Input tensors back from the worker, by frames per run. */
  private readonly free = new Map<number, BatchTarget[]>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private worker: Worker | null;
  /** A worker that died is replaced on the next detect, no sooner than this (grows on each death). */
  private respawnAt = 0;
  private readonly respawnBackoff = new Backoff(RESPAWN);
  private respawning = false;
  private exits = 0;

  private constructor(
    private readonly init: WorkerInit,
    private readonly log: Logger,
    private readonly pre: Preprocessor,
    started: Started,
  ) {
    this.info = started.info;
    this.labels = started.labels;
    this.size = started.inputSize;
    this.maxBatch = started.maxBatch;
    this.worker = null;
    this.attach(started.worker);
  }

  readonly info: DetectorInfo;
  readonly labels: readonly string[];
  /** Frames one run takes (the manifest's `input.max_batch`, checked against the model by the worker). */
  readonly maxBatch: number;
  private readonly size: InputSize;

  /** Times the worker died (a native fault in the session); each is replaced. */
  get workerExits(): number {
    return this.exits;
  }

  static async load(opts: DetectorOptions, log: Logger): Promise<WorkerDetector> {
    // Read here for the input's geometry and normalisation; the worker checks everything again as it loads.
    const m = await loadManifest(opts.manifestPath, opts.modelsDir);
    const pre = new Preprocessor(m.manifest.input);
    const batchProfile = batchProfileOf(m.manifest.input);
    const init: WorkerInit = { options: opts, logLevel: log.level, ...(batchProfile ? { batchProfile } : {}) };
    let detector: WorkerDetector | null = null;
    // Log lines of the load itself arrive before there is a detector to take them.
    const early: FromWorker[] = [];
    const started = await startWorker(init, log, (msg) => (detector ? detector.onMessage(msg) : early.push(msg)))
      .catch((err: unknown) => {
        for (const msg of early) logFromWorker(log, msg);
        throw err;
      });
    detector = new WorkerDetector(init, log, pre, started);
    for (const msg of early) detector.onMessage(msg);
    return detector;
  }

  inputSize(): InputSize {
    return this.size;
  }

  detect(frame: Frame, opts: DetectOptions = {}): Promise<Detection[]> {
    return this.run([frame], opts).then((r) => r[0] ?? []);
  }

  async detectBatch(frames: readonly Frame[], opts: DetectOptions = {}): Promise<Detection[][]> {
    checkBatchSize(frames.length, this.maxBatch, `model ${this.info.name}`);
    return this.run(frames, opts);
  }

  private pool(n: number): BatchTarget[] {
    let list = this.free.get(n);
    if (list === undefined) this.free.set(n, (list = []));
    return list;
  }

  private takeInput(n: number): BatchTarget {
    return this.pool(n).pop() ?? this.pre.newBatch(n);
  }

  /** Keeps a tensor that came back: up to POOL single-frame ones, up to `pipelineDepth` of each batch size. */
  private keepInput(p: BatchTarget, input: ArrayBuffer): void {
    const n = p.targets.length;
    const list = this.pool(n);
    if (list.length >= (n === 1 ? POOL : this.pipelineDepth)) return;
    this.pre.rebind(p, input);
    list.push(p);
  }

  private run(frames: readonly Frame[], opts: DetectOptions): Promise<Detection[][]> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new ModelError(`detector ${this.info.name} is closed`));
        return;
      }
      const worker = this.worker;
      if (worker === null) {
        this.maybeRespawn();
        reject(new ModelError(`inference worker for model ${this.info.name} is not running (it stopped ${this.exits} time(s); restarting)`));
        return;
      }
      const pooled = this.takeInput(frames.length);
      const t0 = performance.now();
      let placements: Placement[];
      try {
        placements = frames.map((f, i) => this.pre.fill(f, pooled.targets[i]));
      } catch (err) {
        // Never sent: the tensor is still here.
        this.pool(frames.length).push(pooled);
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const preMs = performance.now() - t0;
      const id = this.nextId++;
      const input = pooled.data.buffer as ArrayBuffer;
      const msg: ToWorker = { type: 'detect', id, input, placements,
        ...(opts.scoreThreshold !== undefined ? { scoreThreshold: opts.scoreThreshold } : {}) };
      let done = (): void => undefined;
      const settled = new Promise<void>((r) => { done = r; });
      this.pending.set(id, {
        resolve: (d) => { done(); resolve(d); },
        reject: (e) => { done(); reject(e); },
        pooled, preMs, settled,
      });
      worker.postMessage(msg, [input]);
    });
  }

  private attach(worker: Worker): void {
    this.worker = worker;
    worker.on('error', (err) => {
      this.log.error({ model: this.info.name, err: errorMessage(err) }, 'inference worker failed');
    });
    worker.once('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      const err = new ModelError(`inference worker for model ${this.info.name} stopped (exit code ${code})`);
      if (this.closed) {
        this.failAll(err);
        return;
      }
      this.exits += 1;
      const delay = this.respawnBackoff.failed();
      this.respawnAt = Date.now() + delay;
      this.log.error({ model: this.info.name, code, exits: this.exits, restart_in_ms: delay }, 'inference worker stopped; its frames fail until it is restarted');
      this.failAll(err);
    });
  }

  private maybeRespawn(): void {
    if (this.respawning || this.closed || Date.now() < this.respawnAt) return;
    this.respawning = true;
    startWorker(this.init, this.log, (m) => this.onMessage(m)).then((started) => {
      this.respawning = false;
      if (this.closed) {
        void started.worker.terminate();
        return;
      }
      this.attach(started.worker);
      this.log.info({ model: this.info.name }, 'inference worker restarted');
    }, (err: unknown) => {
      this.respawning = false;
      this.respawnAt = Date.now() + this.respawnBackoff.failed();
      this.log.error({ model: this.info.name, err: errorMessage(err) }, 'inference worker could not be restarted');
    });
  }

  /** The frame's pending entry; its tensor back in the pool when the worker returned it. */
  private settle(id: number, input?: ArrayBuffer): Pending | undefined {
    const p = this.pending.get(id);
    if (p === undefined) return undefined;
    this.pending.delete(id);
    if (input !== undefined) this.keepInput(p.pooled, input);
    return p;
  }

  private failAll(err: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(err);
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'result': {
        const p = this.settle(m.id, m.input);
        if (p === undefined) return;
        this.profile.preMs.push(p.preMs);
        this.profile.runMs.push(m.runMs);
        this.profile.postMs.push(m.postMs);
        // The first request after the start or a pause has no previous answer to wait from.
        if (Number.isFinite(m.idleMs)) this.profile.idleMs?.push(m.idleMs);
        if (this.profile.busy) this.profile.busy.totalMs += m.busyMs;
        this.respawnBackoff.succeeded();
        p.resolve(m.detections);
        return;
      }
      case 'failed':
        this.settle(m.id, m.input)?.reject(fromWire(m.error));
        return;
      case 'log':
        logFromWorker(this.log, m);
        return;
      case 'ready':
      case 'load-failed':
      case 'closed':
        return;
    }
  }

  /** Finishes the frames handed in, then ends the worker (terminated if it does not end in time). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.pending.values()].map((p) => p.settled));
    const worker = this.worker;
    this.worker = null;
    if (worker === null) return;
    const exited = new Promise<void>((done) => worker.once('exit', () => done()));
    worker.postMessage({ type: 'close' } satisfies ToWorker);
    const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

/** `loadDetector`'s counterpart whose session runs in a worker thread. */
export function loadWorkerDetector(opts: DetectorOptions, log: Logger): Promise<WorkerDetector> {
  return WorkerDetector.load(opts, log);
}
