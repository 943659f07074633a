import { spawn, type ChildProcess } from 'node:child_process';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../daemon/node-flags.cjs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { stringify } from 'yaml';
import type { ConfigInput } from '../../daemon/config/schema.js';
import { makeClip } from '../helpers/media.js';
import { repoRoot, sharedPath, stopBeforeTempDirsRemoved, waitFor } from '../helpers/shared.js';
export { iou } from '../../daemon/analytics/tracker/iou.js';

/**
 * Shared pieces of the end-to-end tests: the built vigild as a child process, its JSON log lines,
 * a config file, the dog clip, the known answers of the real detectors and the SQLite file read
 * from outside, as an operator would.
 */

interface TestContext {
  after(fn: () => Promise<void> | void): void;
  diagnostic(message: string): void;
}

/** The `vigild` executable as package.json's bin names it: the launcher that sizes the thread pool. */
export const DAEMON_MAIN = path.join(repoRoot, 'dist', 'daemon', 'launcher.cjs');
export const MODELS_DIR = sharedPath('models');
export const manifestPath = (model: 'nanodet-m' | 'yolox-nano'): string => path.join(repoRoot, 'models', `${model}.json`);

/** uuid v7: version nibble 7, RFC 4122 variant. */
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** What `new Date().toISOString()` writes. */
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export interface LogLine {
  level: string;
  msg: string;
  time: string;
  pid: number;
  [field: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Daemon {
  readonly child: ChildProcess;
  /** Every stdout line that parsed as a JSON object, in order. */
  readonly lines: LogLine[];
  /** Stdout lines that did not parse as JSON (must stay empty). */
  readonly badLines: string[];
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<Exit>;
  /** Waits for a log line matching `match` (counting only lines from index `from` on). */
  waitForLine(what: string, match: (l: LogLine) => boolean, timeoutMs?: number, from?: number): Promise<LogLine>;
  /** Waits for the process to exit by itself. */
  waitForExit(timeoutMs?: number): Promise<Exit>;
  /** Sends `signal` and waits for the exit; `ms` is measured from the signal to the exit event. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit & { ms: number }>;
}

/**
 * The environment for the child: without any VIGIL_* variable of the caller that could move its
 * paths, and without the caller's UV_THREADPOOL_SIZE, with the unit's malloc settings, so that
 * vigild starts as systemd starts it.
 */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VIGIL_') && k !== 'UV_THREADPOOL_SIZE') env[k] = v;
  return { ...env, ...DAEMON_ENV, ...extra };
}

/** Runs the built vigild with `args`; killed (SIGKILL) when the test ends if it is still running. */
let sockets = 0;

export function spawnDaemon(t: TestContext, args: string[], env: Record<string, string> = {}, opts: { netns?: string } = {}): Daemon {
  // Each daemon gets its own control socket: the default, /run/vigil/vigild.sock, is the device's.
  const socket = env['VIGIL_SOCKET'] ?? path.join(tmpdir(), `vigil-e2e-${process.pid}-${++sockets}.sock`);
  const command = [process.execPath, ...DAEMON_NODE_FLAGS, DAEMON_MAIN, ...args];
  // `ip netns exec` execs vigild in place (same pid), so a signal to the child reaches vigild itself.
  if (opts.netns !== undefined) command.unshift('ip', 'netns', 'exec', opts.netns);
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv({ ...env, VIGIL_SOCKET: socket }) });
  const lines: LogLine[] = [];
  const badLines: string[] = [];
  let out = '';
  let err = '';
  let partial = '';
  const take = (text: string): void => {
    if (text.length === 0) return;
    try {
      const v: unknown = JSON.parse(text);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) lines.push(v as LogLine);
      else badLines.push(text);
    } catch {
      badLines.push(text);
    }
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) take(p);
  });
  child.stderr.on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => {
      take(partial);
      partial = '';
      resolve({ code, signal });
    });
  });
  let exit: Exit | undefined;
  void exited.then((e) => (exit = e));
  stopBeforeTempDirsRemoved(t, async () => {
    if (exit === undefined) {
      child.kill('SIGKILL');
      await exited;
    }
  });

  const daemon: Daemon = {
    child,
    lines,
    badLines,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLine: (what, match, timeoutMs = 20_000, from = 0) => waitFor(what, () => {
      const found = lines.slice(from).find(match);
      if (found) return found;
      if (exit !== undefined) throw new Error(`vigild exited; stderr: ${err.slice(-2000)}; last lines: ${out.slice(-2000)}`);
      return undefined;
    }, timeoutMs),
    waitForExit: (timeoutMs = 10_000) => waitFor('vigild to exit', () => exit, timeoutMs, 5),
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      const started = performance.now();
      child.kill(signal);
      const e = await waitFor(`vigild to exit after ${signal}`, () => exit, timeoutMs, 5);
      return { ...e, ms: performance.now() - started };
    },
  };
  return daemon;
}

/** Writes `cfg` as `vigil.yaml` in `dir` and returns its path. */
export async function writeConfig(dir: string, cfg: ConfigInput): Promise<string> {
  const file = path.join(dir, 'vigil.yaml');
  await writeFile(file, stringify(cfg));
  return file;
}

/** A 3 s H.264 MP4 of the dog photograph (768×576, its own size, so boxes need no rescaling). */
export function makeDogClip(dir: string): Promise<string> {
  return makeClip(dir, {
    source: { image: sharedPath('images', 'dog.jpg') }, width: 768, height: 576, fps: 30, frames: 90, name: 'dog.mp4',
  });
}

export type Box = readonly [number, number, number, number];


export interface KnownObject {
  /** What the README calls it; the detector may name it by any of `labels`. */
  name: string;
  labels: readonly string[];
  box: Box;
}

/** The known answers of /work/shared/models/<model>/README.md for images/dog.jpg (768×576). */
export const DOG_KNOWN: Readonly<Record<'nanodet-m' | 'yolox-nano', readonly KnownObject[]>> = {
  'nanodet-m': [
    { name: 'dog', labels: ['dog'], box: [128, 200, 325, 545] },
    { name: 'bicycle', labels: ['bicycle'], box: [130, 140, 570, 420] },
    { name: 'truck', labels: ['truck', 'car'], box: [460, 78, 695, 172] },
  ],
  'yolox-nano': [
    { name: 'dog', labels: ['dog'], box: [133, 205, 325, 543] },
    { name: 'bicycle', labels: ['bicycle'], box: [110, 137, 572, 425] },
    { name: 'truck', labels: ['truck', 'car'], box: [466, 78, 694, 172] },
  ],
};

/** Opens `<storage>/vigil.db` read-only, closed when the test ends. */
export function openDb(t: TestContext, storageDir: string): Database {
  const db = new BetterSqlite3(path.join(storageDir, 'vigil.db'), { readonly: true, fileMustExist: true });
  t.after(() => {
    if (db.open) db.close();
  });
  return db;
}

export const linesWith = (d: Daemon, match: (l: LogLine) => boolean): LogLine[] => d.lines.filter(match);
