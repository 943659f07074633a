import { access } from 'node:fs/promises';
import type { StreamConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Service } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { Backoff } from '../util/backoff.js';
import { chooseDecoder, platformRegistry, type Codec, type DecoderChoice, type ElementRegistry } from './decoders.js';
import type { Frame, StreamState, StreamStatus } from './frame.js';
import {
  createPipeline as gstCreatePipeline, isAppSink, isSampleValue, SeekFlags,
  type GstAppSink, type GstBusMessage, type GstCaps, type GstElement, type GstPipeline, type PipelineFactory,
} from './gst.js';
import type { AccessUnitListener } from './access-unit.js';
import { AccessUnitTap, type AccessUnitStats } from './access-unit-tap.js';
import { i420Layout, type FullFrame } from './full-frame.js';
import { LatestFrameSlot } from './latest-frame.js';
import { buildPipeline, ELEMENT, MOTION_ONLY_ANALYSIS, type AnalysisSize, type BuiltPipeline, type FrameFormat, type PipelineSpec } from './pipeline.js';
import { parseStreamUri, type StreamSource } from './uri.js';
import { redactUri } from '../util/redact.js';

/** Timers the stream schedules restarts and stall checks with; injectable for tests. */
export interface StreamTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: StreamTimers = {
  now: Date.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface VideoStreamOptions {
  readonly log: Logger;
  /** The size and layout the analysis wants; defaults to a motion-only 320×320 fit. */
  readonly analysis?: AnalysisSize;
  /** Which GStreamer elements exist; defaults to probing the platform once. */
  readonly registry?: ElementRegistry | Promise<ElementRegistry>;
  readonly createPipeline?: PipelineFactory;
  readonly timers?: StreamTimers;
  readonly random?: () => number;
  /** Frames flowing this long make the next failure start the backoff from the minimum again. */
  readonly healthyAfterMs?: number;
  /**
   * Builds the access-unit branch from the start (clips, live view); without it the first
   * `onAccessUnit` restarts the pipeline once to add it. Coded sources only.
   */
  readonly accessUnits?: boolean;
  /**
   * The full-resolution branch for snapshots (`latestFullFrame`); on unless turned off. The daemon
   * asks for it only where something takes snapshots (stream-supervisor.ts); `setFullFrames` and
   * `whenFullFrames` change that later.
   */
  readonly fullFrames?: boolean;
  /**
   * Runs each pipeline somewhere else (a child process: isolated-pipeline.ts) and returns a
   * pipeline whose sinks carry the in-process names; without it the pipeline runs in this process.
   */
  readonly host?: PipelineHost;
}

/** Where a stream's pipeline runs when not in this process; see `VideoStreamOptions.host`. */
export interface PipelineHost {
  open(spec: PipelineSpec, built: BuiltPipeline): Promise<GstPipeline>;
  /** The process decoding the stream now, for status (null between processes). */
  readonly pid?: number | null;
  /** Processes started for the stream, and those that ended with a signal. */
  readonly stats?: { readonly spawned: number; readonly crashed: number };
}

/**
 * Frames withheld after the probe shows a new source size. The probe sees each access unit just
 * before the decoder does, so when it changes, the frame being pulled and the one after may still
 * be of the old size; measured on this machine, the probe ran at most one frame ahead.
 */
const UNCERTAIN_FRAMES = 2;

const FORMATS: ReadonlySet<string> = new Set<FrameFormat>(['BGRx', 'RGBx', 'BGRA', 'RGBA']);

/**
 * Messages GStreamer gives when the stream holds no video of the codec the pipeline expects
 * (the capsfilter before the depayloader or decoder leaves the pad unlinked).
 */
const CODEC_MISMATCH = /internal data stream error|not-linked|not negotiated|no suitable plugins/i;

/**
 * One camera, supervised: runs its pipeline, keeps only the newest frame for one consumer, and on
 * errors, ends of live streams and stalls restarts with backoff. Nothing it does throws past it;
 * failures end up in `status().lastError` and one log line per attempt.
 */
export class VideoStream implements Service {
  readonly name: string;
  private readonly log: Logger;
  private readonly analysis: AnalysisSize;
  private readonly timers: StreamTimers;
  private readonly makePipeline: PipelineFactory;
  private readonly host: PipelineHost | null;
  private readonly registry: ElementRegistry | Promise<ElementRegistry>;
  private readonly backoff: Backoff;
  private readonly slot = new LatestFrameSlot();
  private readonly redactedUri: string;
  private readonly source: StreamSource | Error;

  private state: StreamState = 'stopped';
  private stopped = true;
  /** Incremented for each pipeline; callbacks from an older one carry a stale value and are ignored. */
  private gen = 0;
  private pipeline: GstPipeline | null = null;
  private sink: GstAppSink | null = null;
  private probe: GstElement | null = null;
  private full: GstElement | null = null;
  /** Whether the next pipeline gets the full-resolution branch. */
  private fullFrames: boolean;
  /** Present once access units were asked for (option or first listener); it outlives pipelines. */
  private tap: AccessUnitTap | null = null;
  private pulling = false;
  /** Incremented by each flushing seek: a `null` pull from before it is the flush, not the end. */
  private flushEpoch = 0;
  private codec: Codec = 'h264';
  private readonly codecsFailed = new Set<Codec>();
  private decoder: DecoderChoice | null = null;
  private attemptFrames = 0;
  private lastActivity = 0;
  private restartTimer: unknown = null;
  private stallTimer: unknown = null;

  private seq = 0;
  private framesPulled = 0;
  private lastFrameAt = 0;
  private restarts = 0;
  private lastError: string | null = null;
  private sourceWidth = 0;
  private sourceHeight = 0;
  private resolutionChanges = 0;
  /** Frames still to be held back after a resolution change, and those held back so far. */
  private withhold = 0;
  private framesWithheld = 0;
  private sinkWidth = 0;
  private sinkHeight = 0;
  private fps = 0;
  private fpsWindowStart = 0;
  private fpsWindowFrames = 0;

  constructor(readonly config: StreamConfig, opts: VideoStreamOptions) {
    this.name = `video:${config.id}`;
    this.redactedUri = redactUri(config.uri);
    this.log = opts.log.child({ component: 'video', stream: config.id });
    this.analysis = opts.analysis ?? MOTION_ONLY_ANALYSIS;
    this.timers = opts.timers ?? realTimers;
    this.makePipeline = opts.createPipeline ?? gstCreatePipeline;
    this.host = opts.host ?? null;
    this.registry = opts.registry ?? platformRegistry();
    this.fullFrames = opts.fullFrames ?? true;
    this.backoff = new Backoff({
      minMs: config.restart_min_ms,
      maxMs: config.restart_max_ms,
      healthyAfterMs: opts.healthyAfterMs ?? 30_000,
      now: () => this.timers.now(),
      ...(opts.random ? { random: opts.random } : {}),
    });
    // A bad URI is reported through status and the log like any other failure, not thrown.
    try {
      this.source = parseStreamUri(config.uri);
    } catch (err) {
      this.source = err instanceof Error ? err : new Error(String(err));
    }
    if (opts.accessUnits === true) this.tap = this.newTap();
  }

  /** Starts the pipeline and returns at once; frames and failures follow asynchronously. */
  start(signal: AbortSignal): Promise<void> {
    if (signal.aborted || !this.stopped) return Promise.resolve();
    if (!this.config.enabled) {
      this.state = 'disabled';
      return Promise.resolve();
    }
    this.stopped = false;
    this.slot.reopen();
    this.armStallCheck();
    void this.launch();
    return Promise.resolve();
  }

  /** Stops at once: the pipeline goes to NULL, pending pulls return and are ignored. */
  stop(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.stopped = true;
    this.clearTimer('restartTimer');
    this.clearTimer('stallTimer');
    this.teardown();
    if (this.state !== 'disabled') this.state = 'stopped';
    this.slot.close();
    this.log.info({ uri: this.redactedUri, framesPulled: this.framesPulled }, 'stream stopped');
    return Promise.resolve();
  }

  /** The newest frame not yet taken; `null` once the stream is stopped or ended, or `signal` aborts. */
  next(signal?: AbortSignal): Promise<Frame | null> {
    return this.slot.next(signal);
  }

  /** Frames for one consumer; a slow consumer skips frames (counted in `framesDropped`). */
  async *frames(signal?: AbortSignal): AsyncGenerator<Frame, void, undefined> {
    for (;;) {
      const f = await this.slot.next(signal);
      if (f === null) return;
      yield f;
    }
  }

  /**
   * Every access unit of a coded source, as the parser hands it out, from now on (test sources
   * have none). The listeners outlive pipeline restarts; a new pipeline starts a new epoch. Where
   * the pipeline was built without the branch, it is restarted once to add it. Returns the
   * unsubscribe.
   */
  onAccessUnit(listener: AccessUnitListener): () => void {
    let tap = this.tap;
    if (tap === null) {
      tap = this.newTap();
      this.tap = tap;
      if (!this.stopped && this.pipeline !== null && this.codedProbe()) {
        this.log.info({ uri: this.redactedUri }, 'restarting the pipeline to add its access-unit branch');
        this.teardown();
        void this.launch();
      }
    }
    return tap.subscribe(listener);
  }

  accessUnitStats(): AccessUnitStats | null {
    return this.tap ? { ...this.tap.stats } : null;
  }

  /**
   * The newest decoded frame at the camera's size, copied out of the pipeline now (one frame's
   * bytes, on the caller's thread): only when a snapshot is due. Null before the first frame, when
   * stopped, or when the branch is off.
   */
  latestFullFrame(): FullFrame | null {
    const sample = this.full?.['last-sample'];
    if (!isSampleValue(sample) || sample.buf === null) return null;
    const { width, height, format } = sample.caps;
    if (typeof width !== 'number' || typeof height !== 'number' || format !== 'I420') return null;
    if (sample.buf.length < i420Layout(width, height).size) return null;
    return { streamId: this.config.id, ts: this.timers.now(), width, height, format: 'I420', data: sample.buf };
  }

  /** Whether the stream keeps full frames: its next pipeline is built with the branch. */
  get keepsFullFrames(): boolean {
    return this.fullFrames;
  }

  /**
   * Adds or drops the full-resolution branch. Adding restarts a running pipeline at once, as
   * `onAccessUnit` does, since whoever asked wants a snapshot soon; dropping only takes effect at
   * the next restart (a reconnect, a config change), so that nothing interrupts the frames now.
   */
  setFullFrames(on: boolean): void {
    if (on === this.fullFrames) return;
    this.fullFrames = on;
    if (on) this.addFullFrameBranch();
  }

  /** Restarts a running pipeline that lacks the branch the stream now wants. */
  private addFullFrameBranch(): void {
    if (this.stopped || this.pipeline === null || this.full !== null || !this.fullFrames) return;
    this.log.info({ uri: this.redactedUri }, 'restarting the pipeline to add its full-resolution branch');
    this.teardown();
    void this.launch();
  }

  /**
   * Makes the stream keep full frames (see `setFullFrames`) and resolves true once one can be read,
   * false if none came within `timeoutMs` (stopped, failing, or slow to reconnect).
   */
  async whenFullFrames(timeoutMs: number): Promise<boolean> {
    this.setFullFrames(true);
    const deadline = this.timers.now() + timeoutMs;
    for (;;) {
      // Read only once the pipeline with the branch has delivered an analysis frame: each read
      // copies a whole frame, and the branch is fed before the analysis.
      if (this.full !== null && this.attemptFrames > 0 && this.latestFullFrame() !== null) return true;
      if (this.stopped || this.state === 'ended' || this.timers.now() >= deadline) return false;
      // A pipeline that was being opened when the branch was asked for came up without it.
      this.addFullFrameBranch();
      await new Promise<void>((resolve) => { this.timers.setTimeout(resolve, 50); });
    }
  }

  private newTap(): AccessUnitTap {
    const live = this.source instanceof Error || this.source.kind !== 'file' || this.config.realtime;
    return new AccessUnitTap(this.config.id, live, this.log);
  }

  status(): StreamStatus {
    const stale = this.timers.now() - this.lastActivity > 2_000;
    const s: StreamStatus = {
      id: this.config.id,
      state: this.state,
      decoder: this.decoder?.element ?? null,
      framesPulled: this.framesPulled,
      framesDropped: this.slot.dropped,
      restarts: this.restarts,
      lastError: this.lastError,
      fps: this.state === 'playing' && !stale ? Math.round(this.fps * 10) / 10 : 0,
      uri: this.redactedUri,
    };
    if (this.decoder !== null) s.codec = this.decoder.codec;
    if (this.sourceWidth > 0) {
      s.sourceWidth = this.sourceWidth;
      s.sourceHeight = this.sourceHeight;
    }
    if (this.lastFrameAt > 0) s.lastFrameAt = this.lastFrameAt;
    if (this.resolutionChanges > 0) {
      s.resolutionChanges = this.resolutionChanges;
      s.framesWithheld = this.framesWithheld;
    }
    if (this.host !== null) {
      s.process = { pid: this.host.pid ?? null, spawned: this.host.stats?.spawned ?? 0, crashed: this.host.stats?.crashed ?? 0 };
    }
    if (this.tap !== null) {
      const { pulled, keyframes, unusable } = this.tap.stats;
      s.accessUnits = { pulled, keyframes, unusable, listeners: this.tap.listenerCount };
    }
    return s;
  }

  private async launch(): Promise<void> {
    const gen = ++this.gen;
    this.state = 'starting';
    this.attemptFrames = 0;
    this.pulling = false;
    this.lastActivity = this.timers.now();
    try {
      const source = this.source;
      if (source instanceof Error) throw source;
      if (source.kind === 'file') {
        await access(source.path).catch(() => { throw new Error(`file not found: ${source.path}`); });
      }
      const decoder = source.kind === 'test' ? null : chooseDecoder(this.codec, await this.registry);
      if (gen !== this.gen || this.stopped) return;
      this.decoder = decoder;
      const spec: PipelineSpec = {
        source,
        decoder,
        fps: this.config.fps,
        analysis: this.analysis,
        sync: source.kind === 'file' ? this.config.realtime : true,
        paced: this.paced(),
        rtsp: { transport: this.config.rtsp_transport, latencyMs: this.config.rtsp_latency_ms },
        accessUnits: this.tap !== null,
        fullFrames: this.fullFrames,
      };
      const built = buildPipeline(spec);
      this.log.debug({ pipeline: redactUri(built.description) }, 'pipeline');
      const pipeline = this.host !== null ? await this.host.open(spec, built) : this.makePipeline(built.description);
      if (gen !== this.gen || this.stopped) {
        // Stopped or restarted while a host was starting it.
        pipeline.stop();
        return;
      }
      this.pipeline = pipeline;
      // A host sets the credentials where the source runs.
      for (const s of this.host !== null ? [] : built.secrets) {
        const el = pipeline.findChild(s.element);
        if (el === undefined) throw new Error(`pipeline has no element "${s.element}"`);
        el[s.property] = s.value;
      }
      const sink = pipeline.findChild(ELEMENT.sink);
      if (!isAppSink(sink)) throw new Error('pipeline has no appsink');
      this.sink = sink;
      this.probe = pipeline.findChild(ELEMENT.probe) ?? null;
      this.full = pipeline.findChild(ELEMENT.full) ?? null;
      const au = pipeline.findChild(ELEMENT.accessUnits);
      pipeline.pollBus((msg) => this.onBus(gen, msg));
      pipeline.play();
      this.pull(gen);
      if (this.tap !== null && isAppSink(au)) this.tap.attach(au);
      // Retries log at debug: a failing camera gets one line per attempt, the failure itself.
      const level = this.restarts === 0 ? 'info' : 'debug';
      this.log[level]({ uri: this.redactedUri, decoder: decoder?.element ?? 'none', codec: decoder?.codec ?? 'raw' }, 'stream starting');
    } catch (err) {
      this.fail(gen, err);
    }
  }

  private pull(gen: number): void {
    if (this.pulling || gen !== this.gen || this.sink === null) return;
    this.pulling = true;
    const epoch = this.flushEpoch;
    this.sink.pull((buf, caps) => this.onSample(gen, epoch, buf, caps));
  }

  private onSample(gen: number, epoch: number, buf: Buffer | null, caps: GstCaps): void {
    if (gen !== this.gen || this.stopped) return;
    this.pulling = false;
    if (buf === null) {
      // Null after a seek was the flush: pull again. Otherwise it is EOS, which the bus handles.
      if (epoch !== this.flushEpoch) this.pull(gen);
      return;
    }
    const width = typeof caps.width === 'number' ? caps.width : 0;
    const height = typeof caps.height === 'number' ? caps.height : 0;
    if (width <= 0 || height <= 0 || buf.length < width * height * 4) {
      this.pull(gen);
      return;
    }
    const now = this.timers.now();
    this.lastActivity = now;
    if (width !== this.sinkWidth || height !== this.sinkHeight || this.sourceWidth === 0 || this.codedProbe()) {
      this.sinkWidth = width;
      this.sinkHeight = height;
      const w0 = this.sourceWidth;
      const h0 = this.sourceHeight;
      this.readSourceSize(width, height);
      if (this.attemptFrames > 0 && (w0 !== this.sourceWidth || h0 !== this.sourceHeight)) {
        this.onResolutionChange(`${w0}x${h0}`, `${this.sourceWidth}x${this.sourceHeight}`);
      }
    }
    if (this.withhold > 0) {
      // Around a change the probe may already show the new size while this frame is still of the
      // old one (or the reverse): a box mapped with the wrong size is worse than a skipped frame.
      this.withhold--;
      this.framesWithheld++;
      this.pull(gen);
      return;
    }
    if (this.attemptFrames++ === 0) this.onFirstFrame();
    this.countFps(now);
    this.framesPulled++;
    this.lastFrameAt = now;
    this.slot.put({
      streamId: this.config.id,
      seq: this.seq++,
      ts: now,
      format: typeof caps.format === 'string' && FORMATS.has(caps.format) ? caps.format as FrameFormat : this.analysis.format,
      width,
      height,
      data: buf,
      sourceWidth: this.sourceWidth,
      sourceHeight: this.sourceHeight,
    });
    if (this.paced()) this.slot.afterTaken(() => this.pull(gen));
    else this.pull(gen);
  }

  private onResolutionChange(before: string, after: string): void {
    this.resolutionChanges++;
    this.withhold = UNCERTAIN_FRAMES;
    this.log.info({ uri: this.redactedUri, from: before, to: after, frame: `${this.sinkWidth}x${this.sinkHeight}` },
      'source resolution changed; boxes follow the new size');
  }

  /** Coded sources can change size mid-stream (a new SPS); their probe holds a small access unit, cheap to read per frame. */
  private codedProbe(): boolean {
    return !(this.source instanceof Error) && this.source.kind !== 'test';
  }

  /** A file analysed as fast as possible decodes only as fast as frames are taken: no wasted decoding. */
  private paced(): boolean {
    return !(this.source instanceof Error) && this.source.kind === 'file' && !this.config.realtime;
  }

  private onFirstFrame(): void {
    this.state = 'playing';
    this.backoff.succeeded();
    this.codecsFailed.clear();
    this.log.info({
      uri: this.redactedUri, decoder: this.decoder?.element ?? 'none', source: `${this.sourceWidth}x${this.sourceHeight}`,
      frame: `${this.sinkWidth}x${this.sinkHeight}`,
    }, 'stream playing');
  }

  /**
   * Reads the source size from the probe's last sample. For coded sources that copies one access
   * unit (kilobytes) and is done for every frame; for test sources (raw frames) only on the first
   * frame and when the output caps change. Until the probe has a sample the output size stands in,
   * and the next frame tries again.
   */
  private readSourceSize(fallbackW: number, fallbackH: number): void {
    const sample = this.probe?.['last-sample'];
    if (isSampleValue(sample) && typeof sample.caps.width === 'number' && typeof sample.caps.height === 'number') {
      this.sourceWidth = sample.caps.width;
      this.sourceHeight = sample.caps.height;
      return;
    }
    if (this.source instanceof Error || this.source.kind !== 'test') {
      this.sourceWidth = fallbackW;
      this.sourceHeight = fallbackH;
      this.sinkWidth = 0; // forces another read on the next frame
    } else {
      this.sourceWidth = this.source.width;
      this.sourceHeight = this.source.height;
    }
  }

  private countFps(now: number): void {
    if (this.fpsWindowFrames === 0) this.fpsWindowStart = now;
    this.fpsWindowFrames++;
    const elapsed = now - this.fpsWindowStart;
    if (elapsed >= 1_000) {
      this.fps = ((this.fpsWindowFrames - 1) * 1_000) / elapsed;
      this.fpsWindowFrames = 0;
    }
  }

  private onBus(gen: number, msg: GstBusMessage): void {
    if (gen !== this.gen || this.stopped) return;
    switch (msg.type) {
      case 'error':
        this.fail(gen, new Error(`${this.elementLabel(msg._src_element_name)}: ${msg.message ?? 'unknown GStreamer error'}`));
        return;
      case 'eos':
        this.onEos(gen);
        return;
      default:
        return;
    }
  }

  /** "rtsp source" reads better in a log line than the element name "src". */
  private elementLabel(name: string | undefined): string {
    if (name === undefined) return 'pipeline';
    return name === ELEMENT.source && !(this.source instanceof Error) ? `${this.source.kind} source` : name;
  }

  private onEos(gen: number): void {
    const source = this.source;
    if (source instanceof Error || source.kind !== 'file') {
      this.fail(gen, new Error('live stream ended'));
      return;
    }
    if (!this.config.loop) {
      // The access-unit branch may still hold the last few; the pipeline stays until it gave them.
      const tap = this.tap;
      if (tap !== null) void tap.drained(1_000).then(() => { if (gen === this.gen) this.teardown(); });
      else this.teardown();
      this.state = 'ended';
      this.clearTimer('stallTimer');
      this.slot.close();
      this.log.info({ uri: this.redactedUri, framesPulled: this.framesPulled }, 'file ended');
      return;
    }
    this.flushEpoch++;
    this.tap?.flushing();
    let ok = false;
    try {
      ok = this.pipeline?.seek(0, SeekFlags.flush | SeekFlags.keyUnit) ?? false;
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'seek threw');
    }
    if (ok) {
      this.lastActivity = this.timers.now();
      this.pull(gen);
      this.tap?.resume();
      return;
    }
    // Some containers refuse to seek; a new pipeline starts from the beginning just as well.
    this.log.info({ uri: this.redactedUri }, 'seek to start failed; restarting pipeline to loop');
    this.teardown();
    this.restarts++;
    void this.launch();
  }

  private fail(gen: number, err: unknown): void {
    if (gen !== this.gen || this.stopped) return;
    const message = redactUri(errorMessage(err));
    this.teardown();
    if (this.attemptFrames === 0 && this.decoder !== null && CODEC_MISMATCH.test(message)) {
      // No frame yet and the pipeline could not link: the video is likely the other codec.
      this.codecsFailed.add(this.codec);
      const other: Codec = this.codec === 'h264' ? 'h265' : 'h264';
      this.codec = other;
      if (!this.codecsFailed.has(other)) {
        this.log.info({ uri: this.redactedUri, err: message }, `no ${this.decoder.codec.toUpperCase()} video found; trying ${other.toUpperCase()}`);
        this.schedule(0);
        return;
      }
    }
    const delay = this.backoff.failed();
    this.state = 'backoff';
    this.lastError = message;
    this.log.warn({ uri: this.redactedUri, err: message, attempt: this.backoff.attempts, retryInMs: delay },
      'stream failed; retrying');
    this.schedule(delay);
  }

  private schedule(delayMs: number): void {
    this.clearTimer('restartTimer');
    this.restartTimer = this.timers.setTimeout(() => {
      this.restartTimer = null;
      if (this.stopped) return;
      this.restarts++;
      void this.launch();
    }, delayMs);
  }

  /** A playing or starting stream with no frame for `stall_timeout_ms` is failed and restarted. */
  private armStallCheck(): void {
    const period = Math.max(100, Math.floor(this.config.stall_timeout_ms / 4));
    const check = (): void => {
      this.stallTimer = null;
      if (this.stopped || this.state === 'ended') return;
      const idle = this.timers.now() - this.lastActivity;
      if ((this.state === 'playing' || this.state === 'starting') && idle >= this.config.stall_timeout_ms) {
        this.fail(this.gen, new Error(`no frame for ${idle} ms (stall timeout ${this.config.stall_timeout_ms} ms)`));
      }
      this.stallTimer = this.timers.setTimeout(check, period);
    };
    this.stallTimer = this.timers.setTimeout(check, period);
  }

  private clearTimer(which: 'restartTimer' | 'stallTimer'): void {
    const handle = this[which];
    if (handle !== null) this.timers.clearTimeout(handle);
    this[which] = null;
  }

  /** Invalidates every callback of the current pipeline and sets it to NULL. */
  private teardown(): void {
    this.gen++;
    const p = this.pipeline;
    this.pipeline = null;
    this.sink = null;
    this.probe = null;
    this.full = null;
    this.tap?.detach();
    this.pulling = false;
    if (p === null) return;
    try {
      // gstreamer-superficial's bus poll blocks a pool thread in gst_bus_timed_pop with no timeout
      // and only re-polls while the pipeline is not NULL. Pausing first posts state-changed messages
      // that wake it; the real pipeline keeps them on the bus through NULL (gst.ts), so the poll
      // returns and, seeing NULL, stops. Without this, every restart would leave one pool thread
      // blocked forever, and `process.exit()` would hang joining it.
      p.pause();
      p.stop();
    } catch (err) {
      this.log.warn({ err: redactUri(errorMessage(err)) }, 'stopping pipeline failed');
    }
  }
}
