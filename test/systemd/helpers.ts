import { spawn } from 'node:child_process';
import path from 'node:path';
import { createSocket } from 'unix-dgram';
import { freePort } from '../helpers/rtsp-server.js';
import { repoRoot, tempDir } from '../helpers/shared.js';

interface TestContext {
  after(fn: () => Promise<void> | void): void;
}

export interface Datagram {
  /** performance.now() when it arrived. */
  readonly at: number;
  readonly text: string;
  /** KEY=VALUE assignments in order. */
  readonly fields: readonly (readonly [string, string])[];
}

export interface NotifyListener {
  /** What NOTIFY_SOCKET should say. */
  readonly path: string;
  readonly received: Datagram[];
  /** Datagrams from index `from` on that assign `key` (and `value`, if given). */
  with(key: string, value?: string, from?: number): Datagram[];
}

/** A Unix datagram socket bound in a temporary directory, standing in for systemd's notify socket. */
export async function notifyListener(t: TestContext): Promise<NotifyListener> {
  const dir = await tempDir(t, 'vigil-notify-');
  const socketPath = path.join(dir, 'notify.sock');
  const received: Datagram[] = [];
  const socket = createSocket('unix_dgram', (msg: Buffer) => {
    const text = msg.toString('utf8');
    const fields = text.split('\n').filter((l) => l.length > 0).map((l): [string, string] => {
      const i = l.indexOf('=');
      return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)];
    });
    received.push({ at: performance.now(), text, fields });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('listening', () => resolve());
    socket.bind(socketPath);
  });
  t.after(() => socket.close());
  return {
    path: socketPath,
    received,
    with: (key, value, from = 0) => received.slice(from).filter((d) => d.fields.some(([k, v]) => k === key && (value === undefined || v === value))),
  };
}

export const field = (d: Datagram | undefined, key: string): string | undefined => d?.fields.find(([k]) => k === key)?.[1];

export interface PausableCamera {
  readonly url: string;
  /** SIGSTOP: the TCP connection stays open and nothing more arrives, as from a hung camera. */
  pause(): void;
  resume(): void;
}

/**
 * The repository's Python RTSP server, started here rather than through startRtspServer because
 * pausing it needs its pid. Killed (after a SIGCONT) when the test ends.
 */
export async function startPausableCamera(t: TestContext, clip: string): Promise<PausableCamera> {
  const port = await freePort();
  const script = path.join(repoRoot, 'test', 'helpers', 'rtsp_server.py');
  const child = spawn('/usr/bin/python3', [script, String(port), clip, 'h264'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await exited;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`RTSP server did not start: ${out}${err}`)), 10_000);
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`RTSP server exited with ${String(code)}: ${out}${err}`));
    });
  });
  return {
    url,
    pause: () => { child.kill('SIGSTOP'); },
    resume: () => { child.kill('SIGCONT'); },
  };
}
