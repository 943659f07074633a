import { mkdtemp, open, readdir, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import { redactUri } from '../util/redact.js';
import type { Logger } from '../log.js';
import { createPipeline as gstCreatePipeline, isAppSink, type GstAppSink, type GstBusMessage, type GstCaps, type GstElement, type GstPipeline, type PipelineFactory } from './gst.js';
import { isCrossingElement, isolatedDescriptions, sniffContainer, type Container } from './isolated-descriptions.js';
import { StreamHost, type StreamExit, type StreamMessage, type StreamProcess } from './isolated-server.js';
import { ELEMENT, type BuiltPipeline, type PipelineSpec } from './pipeline.js';

/** How long a child may take from its start to every socket created. */
const READY_MS = 15_000;
/** After `stop` is asked: a child not gone by then is killed (SIGKILL). */
const KILL_AFTER_MS = 2_000;
/**
 * vigild's side failing (a shmsrc's error, and the end of stream its source pushes after it) waits
 * this long for the child's exit, whose cause says more than "socket closed".
 */
const EXIT_REPORT_MS = 2_000;
/**
 * The child reports its source's end once its sinks have written their last buffers, which vigild
 * may not have taken yet: the end goes to the stream once a pull of the frame sink has waited this
 * long with nothing to give (or after END_DRAIN_MAX_MS).
 */
const END_DRAIN_MS = 200;
const END_DRAIN_MAX_MS = 5_000;

export interface ProcessIsolationOptions {
  readonly log: Logger;
  /** Where each child's sockets live (a directory per child); the system's temporary directory by default. */
  readonly dir?: string;
  readonly createPipeline?: PipelineFactory;
  /**
   * The server children are forked from: vigild's streams share one (stream-supervisor.ts), since
   * each stream process shares its pages; without it, this stream gets a server of its own.
   */
  readonly server?: StreamHost;
  /**
   * The stream's `loop`. A looping file still ends its child at each end and the stream starts
   * another: the child cannot seek back itself, since gdppay refuses seek events and GStreamer
   * 1.22's shmsink stalls after a flushing seek (tried: frames stopped until the stall timeout).
   */
  readonly loop?: boolean;
  /** Seen for each child started: tests signal it, the bench measures it. */
  readonly onChild?: (child: StreamProcess) => void;
}

/**
 * Opens stream pipelines whose decoding runs in a child process of their own (VideoStream's
 * `host`), forked by the stream host (isolated-server.ts). A stream's process serves one pipeline:
 * the stream's restart (an error, a stall, the end of a looped file, a crash of the child) ends it
 * and starts another, so a reconnecting camera leaves nothing behind in either process. See
 * docs/process-isolation.md.
 */
export class ProcessIsolation {
  private readonly log: Logger;
  private readonly makePipeline: PipelineFactory;
  private readonly server: StreamHost;
  private current: IsolatedPipeline | null = null;
  /** Children started, and those that ended with a signal (a native crash, or a kill). */
  readonly stats = { spawned: 0, crashed: 0 };

  constructor(private readonly opts: ProcessIsolationOptions) {
    this.log = opts.log;
    this.makePipeline = opts.createPipeline ?? gstCreatePipeline;
    this.server = opts.server ?? new StreamHost(opts.log);
  }

  /** The running child's process id, if any. */
  get pid(): number | null {
    return this.current?.pid ?? null;
  }

  async open(spec: PipelineSpec, built: BuiltPipeline): Promise<GstPipeline> {
    const container = spec.source.kind === 'file' ? await containerOf(spec.source.path) : null;
    const dir = await mkdtemp(path.join(this.opts.dir ?? tmpdir(), 'vigil-iso-'));
    let d;
    try {
      d = isolatedDescriptions(built, spec.analysis, dir, container);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const child = this.server.start({ description: d.child, secrets: built.secrets, dir, sockets: d.crossings.map((c) => c.socket) });
    this.stats.spawned++;
    this.log.debug({ id: child.id, pipeline: redactUri(d.child) }, 'stream process started');
    this.opts.onChild?.(child);
    const running = new IsolatedPipeline(child, dir, this.log, () => { this.stats.crashed++; });
    this.current = running;
    try {
      await running.ready();
      running.attach(this.makePipeline(d.parent));
      return running;
    } catch (err) {
      running.stop();
      throw err;
    }
  }
}

/** The container of a file source, for the child's demuxer (isolated-descriptions.ts). */
async function containerOf(file: string): Promise<Container> {
  let head: Buffer;
  try {
    const fh = await open(file, 'r');
    try {
      const { buffer, bytesRead } = await fh.read({ buffer: Buffer.alloc(4096), position: 0 });
      head = buffer.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new Error(`file not found: ${file} (${errorMessage(err)})`);
  }
  const c = sniffContainer(head);
  if (c === null) {
    throw new Error(`process isolation: ${file} is not MP4/MOV, Matroska/WebM, MPEG-TS or raw H.264/H.265; analyse it in-process (isolation: in-process)`);
  }
  return c;
}

/**
 * vigild's side of one isolated pipeline: its own `shmsrc ! gdpdepay ! sink` pipeline (the sinks
 * the stream pulls from) and the child that feeds it. Errors of either, and the child's end,
 * reach the stream as bus errors, so the stream restarts it with its usual backoff.
 */
class IsolatedPipeline implements GstPipeline {
  private native: GstPipeline | null = null;
  private bus: ((msg: GstBusMessage) => void) | null = null;
  private readonly exited: Promise<StreamExit>;
  private exitReason: string | null = null;
  private childError: StreamMessage & { type: 'error' } | null = null;
  private readyWaiter: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private isReady = false;
  private stopped = false;
  /** Set once an error went to the stream: one is enough to restart it. */
  private reported = false;
  /** Set once vigild's side failed: its error and its end of stream are one failure, reported once. */
  private sideFailed = false;

  constructor(private readonly child: StreamProcess, private readonly dir: string, private readonly log: Logger, onCrash: () => void) {
    child.onMessage((msg) => {
      switch (msg.type) {
        case 'ready':
          this.isReady = true;
          this.readyWaiter?.resolve();
          return;
        case 'eos':
          this.log.debug({ pid: child.pid }, 'stream process reached the end of its source');
          this.endWhenDrained(Date.now() + END_DRAIN_MAX_MS);
          return;
        case 'error':
          this.childError ??= msg;
          this.readyWaiter?.reject(new Error(this.errorText()));
          this.report(msg.element, msg.message);
          return;
      }
    });
    this.exited = new Promise((resolve) => {
      child.onExit((exit) => {
        const reason = exit.host !== undefined ? `ended with its stream host (${exit.host})`
          : exit.signal !== null ? `killed by ${exit.signal}` : `exited with code ${exit.code ?? '?'}`;
        this.exitReason = reason;
        if ((exit.signal !== null || exit.host !== undefined) && !this.stopped) onCrash();
        if (!this.stopped) this.log.warn({ pid: child.pid, reason }, 'stream process ended');
        void this.cleanup(child.pid);
        this.readyWaiter?.reject(new Error(this.errorText()));
        this.report('stream process', this.errorText());
        resolve(exit);
      });
    });
  }

  get pid(): number | null {
    return this.child.pid;
  }

  /** Resolves once the child's sockets exist; rejects with its error, its end, or after READY_MS. */
  ready(): Promise<void> {
    if (this.isReady) return Promise.resolve();
    if (this.exitReason !== null || this.childError !== null) return Promise.reject(new Error(this.errorText()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stream process did not start its pipeline within ${READY_MS} ms`)), READY_MS);
      const settle = (): void => {
        clearTimeout(timer);
        this.readyWaiter = null;
      };
      this.readyWaiter = {
        resolve: () => { settle(); resolve(); },
        reject: (e) => { settle(); reject(e); },
      };
    });
  }

  attach(native: GstPipeline): void {
    this.native = native;
  }

  private errorText(): string {
    if (this.childError !== null) return this.childError.message;
    return `stream process ${this.child.pid ?? '?'} ${this.exitReason ?? 'failed'}`;
  }

  /** One error to the stream's bus callback, named as the in-process pipeline would name it. */
  private report(element: string | null, message: string): void {
    if (this.reported || this.stopped || this.bus === null) return;
    this.reported = true;
    const msg: GstBusMessage = element === null ? { type: 'error', message } : { type: 'error', message, _src_element_name: element };
    this.bus(msg);
  }

  play(): void {
    this.native?.play();
  }

  pause(): void {
    this.native?.pause();
  }

  /** Stops vigild's side at once and ends the child: asked first, killed after KILL_AFTER_MS. */
  stop(): void {
    this.stopped = true;
    // Let go of vigild's side at once: the child object, which lives on until it ends (and longer
    // where someone holds it), must not keep the pipeline and its sockets alive through our handlers.
    const native = this.native;
    this.native = null;
    this.bus = null;
    try {
      native?.stop();
    } finally {
      if (this.exitReason === null) {
        this.child.signal('SIGTERM');
        const timer = setTimeout(() => {
          if (this.exitReason === null) this.child.signal('SIGKILL');
        }, KILL_AFTER_MS);
        timer.unref();
        void this.exited.then(() => clearTimeout(timer));
      }
    }
  }

  /**
   * Not carried to the child: a file that loops ends the child, and the stream starts a new one
   * (VideoStream restarts a pipeline that cannot seek).
   */
  seek(): boolean {
    return false;
  }

  queryPosition(): number {
    return this.native?.queryPosition() ?? -1;
  }

  queryDuration(): number {
    return this.native?.queryDuration() ?? -1;
  }

  findChild(name: string): GstElement | undefined {
    const el = this.native?.findChild(name);
    return name === ELEMENT.sink && isAppSink(el) ? this.watched(el) : el;
  }

  /** When a pull of the frame sink began and is still waiting (null: none waiting). */
  private pullWaitingSince: number | null = null;

  /** The frame sink, its pulls watched so that the end can wait for the last frames. */
  private watched(sink: GstAppSink): GstAppSink {
    const pull = (callback: (buf: Buffer | null, caps: GstCaps) => void): void => {
      this.pullWaitingSince = Date.now();
      sink.pull((buf, caps) => {
        this.pullWaitingSince = null;
        callback(buf, caps);
      });
    };
    return new Proxy(sink, { get: (target, prop) => (prop === 'pull' ? pull : target[prop as string]) });
  }

  private endWhenDrained(deadline: number): void {
    if (this.stopped) return;
    const waiting = this.pullWaitingSince;
    if ((waiting !== null && Date.now() - waiting >= END_DRAIN_MS) || Date.now() >= deadline) {
      this.bus?.({ type: 'eos' });
      return;
    }
    setTimeout(() => this.endWhenDrained(deadline), 50);
  }

  pollBus(callback: (msg: GstBusMessage) => void): void {
    this.bus = callback;
    this.native?.pollBus((msg) => {
      // A shmsrc whose child went away posts an error, and then, as every source does after a
      // fatal flow return, pushes an end of stream: with every branch ended the pipeline posts
      // EOS. Neither is the source's end (GDP carries no EOS; a real one comes from the child),
      // and either can arrive before the child's exit, which names the cause (SIGSEGV): both wait
      // for it. Reporting the EOS at once, as before, named "the shared-memory side ended" for
      // about half the crashes and lost the crash (test/video/isolation.test.ts).
      const crossingError = msg.type === 'error' && isCrossingElement(msg._src_element_name);
      if (crossingError || msg.type === 'eos') {
        if (this.sideFailed) return;
        this.sideFailed = true;
        this.log.debug({ pid: this.child.pid, type: msg.type, element: msg._src_element_name }, 'the shared-memory side failed');
        const fallback = crossingError ? `${msg._src_element_name ?? 'shmsrc'}: ${msg.message ?? 'shared-memory link failed'}` : 'the shared-memory side ended before its stream process did';
        void Promise.race([this.exited, new Promise((r) => setTimeout(r, EXIT_REPORT_MS))]).then(() => {
          this.report(this.childError?.element ?? 'stream process', this.exitReason !== null || this.childError !== null ? this.errorText() : fallback);
        });
        return;
      }
      callback(msg);
    });
    if (this.exitReason !== null || this.childError !== null) this.report(this.childError?.element ?? 'stream process', this.errorText());
  }

  /** The child's socket directory, and the shared areas a child that did not stop cleanly left in /dev/shm. */
  private async cleanup(pid: number | null): Promise<void> {
    // The stream host removes both when it reaps the child; this covers a host that ended itself.
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
    if (pid === null) return;
    // shmsink names its areas "/shmpipe.%5d.%5d" (pid, index) and unlinks them when it stops; a
    // child killed or crashed never stops them, and each would hold its written pages until reboot.
    const names = await readdir('/dev/shm').catch(() => [] as string[]);
    for (const name of names) {
      const m = /^shmpipe\.\s*(\d+)\./.exec(name);
      if (m !== null && Number(m[1]) === pid) {
        await unlink(path.join('/dev/shm', name)).catch((err: unknown) => this.log.debug({ name, err: errorMessage(err) }, 'could not remove a shared area'));
      }
    }
  }
}
