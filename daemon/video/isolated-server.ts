import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';
import { encodeSignal, encodeStart, parseHostLine, type HostMessage, type StartRequest } from './isolated-protocol.js';

/** Built by `npm run build:stream-host` from daemon/video/child/stream-host.c, beside this module in dist/. */
export const STREAM_HOST_BINARY = fileURLToPath(new URL('./child/vigil-stream-host', import.meta.url));

/** Lines of stderr logged per stream process started: GStreamer's criticals before a crash say what crashed. */
const STDERR_LINES = 20;

/** How a stream process ended: its exit code or signal, or its host's end (`host`). */
export interface StreamExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the host itself ended: the process was killed with it. */
  readonly host?: string;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

export type StreamMessage = Extract<HostMessage, { type: 'ready' | 'eos' | 'error' }>;

/** One isolated stream's process, as seen through the host that forked it. */
export class StreamProcess {
  private pidValue: number | null = null;
  private exitValue: StreamExit | null = null;
  private readonly listeners: { message: ((m: StreamMessage) => void)[]; exit: ((e: StreamExit) => void)[] } = { message: [], exit: [] };

  constructor(readonly id: number, private readonly host: StreamHost) {}

  /** Null until the host forked it. */
  get pid(): number | null {
    return this.pidValue;
  }

  /** Null while it runs. */
  get exit(): StreamExit | null {
    return this.exitValue;
  }

  onMessage(fn: (m: StreamMessage) => void): void {
    this.listeners.message.push(fn);
  }

  onExit(fn: (e: StreamExit) => void): void {
    if (this.exitValue !== null) fn(this.exitValue);
    else this.listeners.exit.push(fn);
  }

  /** SIGTERM stops its pipeline (shmsink removes its areas) and ends it; SIGKILL ends it. */
  signal(sig: 'SIGTERM' | 'SIGKILL'): void {
    if (this.exitValue === null) this.host.signal(this.id, sig);
  }

  /** @internal the host's report. */
  spawned(pid: number): void {
    this.pidValue = pid;
  }

  /** @internal the host's report. */
  message(m: StreamMessage): void {
    for (const fn of this.listeners.message) fn(m);
  }

  /** @internal the host's report. */
  ended(e: StreamExit): void {
    if (this.exitValue !== null) return;
    this.exitValue = e;
    for (const fn of this.listeners.exit) fn(e);
    this.listeners.exit.length = 0;
    this.listeners.message.length = 0;
  }
}

/**
 * The stream host (daemon/video/child/stream-host.c): one server process per vigild that loads
 * GStreamer once and forks a process per isolated stream, which shares the server's pages
 * (relocated libraries, the plugin registry) until it writes them. Started on the first isolated
 * stream; started again on the next one if it ended. It ends, and takes its stream processes with
 * it, when its stdin closes: vigild's exit, whatever the cause.
 */
export class StreamHost {
  private proc: ChildProcess | null = null;
  private readonly running = new Map<number, StreamProcess>();
  private nextId = 1;
  private stderrBudget = 0;

  constructor(private readonly log: Logger, private readonly binary = STREAM_HOST_BINARY) {}

  /** Forks a process for `request`'s pipeline; its id is given here. */
  start(request: Omit<StartRequest, 'id'>): StreamProcess {
    const p = new StreamProcess(this.nextId++, this);
    this.running.set(p.id, p);
    let proc: ChildProcess;
    try {
      proc = this.server();
      this.stderrBudget = Math.min(this.stderrBudget + STDERR_LINES, 5 * STDERR_LINES);
      proc.stdin?.write(encodeStart({ ...request, id: p.id }));
    } catch (err) {
      this.running.delete(p.id);
      // After the caller has subscribed (it does so on the returned process), or the reason is lost.
      queueMicrotask(() => {
        p.message({ type: 'error', id: p.id, element: null, message: errorMessage(err) });
        p.ended({ code: 1, signal: null });
      });
    }
    return p;
  }

  /** @internal */
  signal(id: number, sig: 'SIGTERM' | 'SIGKILL'): void {
    this.proc?.stdin?.write(encodeSignal(id, sig));
  }

  /** The server's process id (null when none runs): tests and the bench look below it. */
  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  private server(): ChildProcess {
    if (this.proc !== null) return this.proc;
    if (!existsSync(this.binary)) {
      throw new Error(`the stream host ${this.binary} is not built (npm run build:stream-host; it needs gcc and libgstreamer1.0-dev)`);
    }
    // vigild's malloc settings keep up to 32 MiB free per arena for inference's outputs
    // (node-flags.cts); a decoder process runs no inference, and would keep that per thread.
    const env: NodeJS.ProcessEnv = { ...process.env, MALLOC_ARENA_MAX: '2' };
    delete env['GLIBC_TUNABLES'];
    const proc = spawn(this.binary, [], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.proc = proc;
    // The server holds nothing vigild must wait for: at vigild's exit its stdin closes and it ends.
    proc.unref();
    for (const s of [proc.stdin, proc.stdout, proc.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
    proc.stdin?.on('error', () => undefined); // a dead server is reported by its exit
    createInterface({ input: proc.stdout }).on('line', (line) => this.onLine(line));
    createInterface({ input: proc.stderr }).on('line', (line) => {
      if (line.trim() === '' || this.stderrBudget <= 0) return;
      this.stderrBudget--;
      this.log.warn({ line: line.slice(0, 500) }, 'stream process stderr');
    });
    const gone = (why: string): void => {
      if (this.proc !== proc) return;
      this.proc = null;
      this.log.warn({ pid: proc.pid, reason: why }, 'stream host ended');
      // Its processes die with it (PR_SET_PDEATHSIG, checked against a parent that died before it
      // was set), so none is signalled from here: init may already have reaped one and its pid
      // been given to another process. Each stream restarts with its backoff.
      for (const p of this.running.values()) p.ended({ code: null, signal: null, host: why });
      this.running.clear();
    };
    proc.on('exit', (code, signal) => gone(signal !== null ? `killed by ${signal}` : `exited with code ${code ?? '?'}`));
    proc.on('error', (err) => gone(errorMessage(err)));
    return proc;
  }

  private onLine(line: string): void {
    const m = parseHostLine(line);
    if (m === null) {
      this.log.debug({ line: line.slice(0, 200) }, 'stream host: unknown line');
      return;
    }
    if (m.type === 'hello') return;
    const p = this.running.get(m.id);
    if (p === undefined) return;
    switch (m.type) {
      case 'spawned':
        p.spawned(m.pid);
        return;
      case 'exit':
        this.running.delete(m.id);
        p.ended({ code: m.code, signal: m.signal === null ? null : SIGNAL_NAMES.get(m.signal) ?? null });
        return;
      case 'ready':
      case 'eos':
      case 'error':
        p.message(m);
        return;
    }
  }
}
