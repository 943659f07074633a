import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { repoRoot } from './shared.js';

export interface RtspServer {
  readonly port: number;
  /** rtsp://127.0.0.1:PORT/stream */
  readonly url: string;
  /** Kills the server at once (SIGKILL, as a crashing camera would) and waits for it to exit. */
  kill(): Promise<void>;
}

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Debian's interpreter: it sees python3-gi and the GstRtspServer typelib; a venv python may not. */
const PYTHON = '/usr/bin/python3';
// The .py file is not compiled, so it is found in the source tree from either test/ or dist/test/.
const SCRIPT = path.join(repoRoot, 'test', 'helpers', 'rtsp_server.py');

/** Serve this as the clip for an endless live feed (a camera: no duration in its RTSP range). */
export const LIVE_CAMERA = 'live:';

/** Starts the Python GStreamer RTSP server serving `clip` (a file, or LIVE_CAMERA) and resolves once it listens. */
export async function startRtspServer(clip: string, opts: { port?: number; codec?: 'h264' | 'h265' } = {}): Promise<RtspServer> {
  const port = opts.port ?? await freePort();
  const child = spawn(PYTHON, [SCRIPT, String(port), clip, opts.codec ?? 'h264'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error('RTSP server did not start within 10 s')), 10_000);
    let settled = false;
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${e.message}\n${out}${err}`));
    };
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m?.[1] !== undefined && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve(m[1]);
      } else if (out.includes('FAILED')) {
        fail(new Error('RTSP server failed to listen'));
      }
    });
    child.once('exit', (code) => fail(new Error(`RTSP server exited with ${String(code)}`)));
  });
  return { port, url, kill: () => killChild(child, exited) };
}

async function killChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exited;
}
