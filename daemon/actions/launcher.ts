import { fork, spawn, type ChildProcess } from 'node:child_process';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

/** What becomes of one launched program; each callback at most once, `exit` only after `spawn`. */
export interface LaunchCallbacks {
  spawn(): void;
  error(err: Error): void;
  exit(code: number | null, signal: string | null, stderr: string): void;
}

export interface LaunchRequest {
  file: string;
  args: string[];
  /** Added to the launcher's own environment. */
  env: Record<string, string>;
  timeoutMs: number;
}

/** Starts programs for the local actions; never through a shell. */
export interface ProgramLauncher {
  launch(req: LaunchRequest, cb: LaunchCallbacks): void;
  stop(): Promise<void>;
}

/** Messages between the daemon and the launch helper (launch-helper.ts). */
export type HelperRequest = { id: number } & LaunchRequest;
export type HelperReply =
  | { id: number; type: 'spawn' }
  | { id: number; type: 'error'; message: string }
  | { id: number; type: 'exit'; code: number | null; signal: string | null; stderr: string };

/** Runs one program and reports on it; shared by the in-process launcher and the helper. */
export function launchHere(req: LaunchRequest, cb: LaunchCallbacks): ChildProcess | null {
  let child: ChildProcess;
  try {
    child = spawn(req.file, req.args, {
      env: { ...process.env, ...req.env }, stdio: ['ignore', 'ignore', 'pipe'], shell: false, timeout: req.timeoutMs, killSignal: 'SIGKILL',
    });
  } catch (err) {
    cb.error(err instanceof Error ? err : new Error(String(err)));
    return null;
  }
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => { stderr = (stderr + s).slice(-500); });
  child.once('spawn', () => cb.spawn());
  child.once('error', (err) => cb.error(err));
  // 'exit', not 'close': a program's own children may hold its stderr open long after it is gone.
  child.once('exit', (code, signal) => cb.exit(code, signal, stderr));
  return child;
}

/** Forks from this process: costs the event loop the fork of the whole daemon (see HelperLauncher). */
export class DirectLauncher implements ProgramLauncher {
  launch(req: LaunchRequest, cb: LaunchCallbacks): void {
    launchHere(req, cb);
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Launches programs from a small helper process instead of the daemon. fork() copies the caller's
 * page tables, so its cost grows with the caller's memory: measured here under load, a spawn
 * blocked the event loop for 7 ms from a 47 MB process and 50-150 ms from a 466 MB one, which is
 * what vigild is with a model and pipelines loaded. The helper stays small; the daemon only writes
 * one IPC message per program. If the helper cannot run, programs are launched directly (logged).
 */
export class HelperLauncher implements ProgramLauncher {
  private helper: ChildProcess | null = null;
  private readonly pending = new Map<number, LaunchCallbacks & { spawned: boolean }>();
  private nextId = 1;
  private stopped = false;
  private readonly direct = new DirectLauncher();

  constructor(private readonly log: Logger, private readonly helperPath = new URL('./launch-helper.js', import.meta.url)) {}

  /** Starts the helper now, so that the first event does not pay for it. */
  start(): void {
    this.ensure();
  }

  launch(req: LaunchRequest, cb: LaunchCallbacks): void {
    const helper = this.ensure();
    if (!helper) {
      this.direct.launch(req, cb);
      return;
    }
    const id = this.nextId++;
    this.pending.set(id, { ...cb, spawned: false });
    this.keepAlive(helper);
    const message: HelperRequest = { id, ...req };
    helper.send(message, (err) => {
      if (!err) return;
      const p = this.pending.get(id);
      this.pending.delete(id);
      p?.error(err);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const helper = this.helper;
    this.helper = null;
    if (!helper || helper.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => helper.once('exit', () => resolve()));
    // Disconnecting lets it exit once its programs have; after a second it goes anyway, and hooks
    // still running finish on their own (they are not its to kill).
    helper.ref();
    helper.disconnect();
    const timer = setTimeout(() => helper.kill('SIGKILL'), 1000);
    await gone;
    clearTimeout(timer);
  }

  private ensure(): ChildProcess | null {
    if (this.stopped) return null;
    if (this.helper) return this.helper;
    try {
      const helper = fork(this.helperPath, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
      // An idle helper does not keep vigild's event loop alive; one with programs to report on does.
      this.keepAlive(helper);
      helper.on('message', (m: HelperReply) => this.reply(m));
      helper.on('error', (err) => this.log.warn({ err: errorMessage(err) }, 'action launch helper error'));
      helper.once('exit', (code, signal) => {
        if (this.helper === helper) this.helper = null;
        // Programs it had started are orphaned from our view: count them as failed, not hung.
        for (const [id, p] of this.pending) {
          this.pending.delete(id);
          if (p.spawned) p.exit(null, signal ?? 'helper exited', '');
          else p.error(new Error(`the launch helper exited (${signal ?? String(code)})`));
        }
        if (!this.stopped) this.log.warn({ code, signal }, 'action launch helper exited; a new one starts with the next action');
      });
      this.helper = helper;
      return helper;
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'cannot start the action launch helper: programs are started from vigild itself');
      return null;
    }
  }

  private keepAlive(helper: ChildProcess): void {
    const channel = helper.channel as { ref?: () => void; unref?: () => void } | undefined;
    if (this.pending.size > 0) {
      helper.ref();
      channel?.ref?.();
    } else {
      helper.unref();
      channel?.unref?.();
    }
  }

  private reply(m: HelperReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type !== 'spawn' && this.helper) {
      this.pending.delete(m.id);
      this.keepAlive(this.helper);
    }
    switch (m.type) {
      case 'spawn':
        p.spawned = true;
        p.spawn();
        return;
      case 'error':
        this.pending.delete(m.id);
        p.error(new Error(m.message));
        return;
      case 'exit':
        this.pending.delete(m.id);
        p.exit(m.code, m.signal, m.stderr);
    }
  }
}
