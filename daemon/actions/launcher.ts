import { spawn, type ChildProcess } from 'node:child_process';

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

/** Runs one program and reports on it. */
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

/**
 * Forks from this process. fork() copies the caller's page tables, so its cost grows with the
 * caller's memory: which is why vigild runs its actions in a small process of their own (runner.ts).
 */
export class DirectLauncher implements ProgramLauncher {
  launch(req: LaunchRequest, cb: LaunchCallbacks): void {
    launchHere(req, cb);
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
