import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import path from 'node:path';
import { tempDir, waitFor } from './shared.js';

export const MOSQUITTO = process.env['VIGIL_MOSQUITTO'] ?? '/usr/sbin/mosquitto';

export interface MosquittoOptions {
  /**
   * Keep sessions and retained messages across restarts (saved on SIGTERM). Off by default; the
   * outage tests turn it on so that a persistent subscriber misses nothing while the broker is down.
   */
  persistence?: boolean;
  /** Lines appended to the generated mosquitto.conf; `{dir}` becomes the broker's private directory. */
  extraConfig?: string[];
  /** Files to write into that directory before the first start (an ACL file, say), by name. */
  files?: Record<string, string>;
  /**
   * Replaces the default plain, anonymous loopback listener (for a TLS listener, say); `{port}` and
   * `{dir}` are substituted. `scheme` is then the URL's scheme.
   */
  listener?: { lines: string[]; scheme: 'mqtt' | 'mqtts' };
}

/** A real mosquitto on a loopback port that stays the same across stop() and start(). */
export interface Mosquitto {
  readonly port: number;
  /** The broker's private temporary directory (config, persistence, any files a test adds). */
  readonly dir: string;
  readonly url: string;
  readonly running: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** mosquitto's own log, for assertion messages. */
  output(): string;
}

interface TestContext {
  after(fn: () => Promise<void> | void): void;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts mosquitto and stops it when the test ends, however it ends. */
export async function startMosquitto(t: TestContext, options: MosquittoOptions = {}): Promise<Mosquitto> {
  if (process.env['VIGIL_TEST_TIER'] === 'unit') {
    throw new Error('this test starts a broker: it belongs to the full suite, not test:unit (scripts/test-unit.ts chose it by its imports)');
  }
  // The directory goes only after mosquitto has exited, since it writes there on SIGTERM.
  const removeDir: (() => Promise<void> | void)[] = [];
  const dir = await tempDir({ after: (fn) => removeDir.push(fn) }, 'vigil-mosquitto-');
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  const listener = options.listener?.lines.map((l) => l.replaceAll('{port}', String(port)).replaceAll('{dir}', dir))
    ?? [`listener ${port} 127.0.0.1`, 'allow_anonymous true'];
  const lines = [
    ...listener,
    `persistence ${options.persistence ? 'true' : 'false'}`,
    `persistence_location ${dir}/`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
  ];
  for (const line of options.extraConfig ?? []) lines.push(line.replaceAll('{dir}', dir));
  // As root, mosquitto drops to the "mosquitto" user, which cannot write our private temp dir.
  if (process.getuid?.() === 0) lines.push('user root');
  await writeFile(conf, `${lines.join('\n')}\n`);
  for (const [name, text] of Object.entries(options.files ?? {})) await writeFile(path.join(dir, name), text);

  let child: ChildProcess | undefined;
  let log = '';

  const broker: Mosquitto = {
    port,
    dir,
    url: `${options.listener?.scheme ?? 'mqtt'}://127.0.0.1:${port}`,
    get running() {
      return child !== undefined;
    },
    async start() {
      if (child) return;
      const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      let gone = false;
      void exited.then(() => {
        gone = true;
        if (child === proc) child = undefined;
      });
      proc.stdout?.on('data', (b: Buffer) => (log += b.toString()));
      proc.stderr?.on('data', (b: Buffer) => (log += b.toString()));
      await waitFor(`mosquitto to accept connections on port ${port}`, async () => {
        if (gone) throw new Error(`mosquitto exited: ${log}`);
        return (await accepts(port)) ? true : undefined;
      }, 10_000, 20);
    },
    async stop() {
      const proc = child;
      if (!proc) return;
      const exited = new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) resolve();
        else proc.once('exit', () => resolve());
      });
      proc.kill('SIGTERM');
      await exited;
      child = undefined;
    },
    output: () => log,
  };
  t.after(async () => {
    await broker.stop();
    for (const fn of removeDir) await fn();
  });
  await broker.start();
  return broker;
}
