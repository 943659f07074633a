import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot, waitFor } from '../helpers/shared.js';

/** A line `vigilctl hub evidence --json` printed for a file received whole (or refused as bad). */
export interface ReceivedLine {
  ok: boolean;
  device: string;
  event_id: string;
  kind?: 'snapshot' | 'clip';
  path: string;
  bytes: number;
  sha256?: string;
  parts?: number;
  duplicates?: number;
  /** When the line was read here, ms since the epoch. */
  at: number;
}

export interface ReceiverProcess {
  child: ChildProcess;
  files: ReceivedLine[];
  stderr: () => string;
  /** Resolves with the line for `eventId`'s file of `kind` once it was printed. */
  file(eventId: string, kind: 'snapshot' | 'clip', timeoutMs?: number): Promise<ReceivedLine>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs the built `vigilctl hub evidence` as its own process (it is killed, and restarted, in the tests). */
export async function startReceiver(t: { after(fn: () => Promise<void> | void): void }, args: { hub: string; site: string; out: string; extra?: string[] }): Promise<ReceiverProcess> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist', 'cli', 'main.js'), 'hub', 'evidence', '--hub', args.hub, '--site', args.site,
    '--out', args.out, '--json', ...(args.extra ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  const files: ReceivedLine[] = [];
  let err = '';
  let partial = '';
  let exited = false;
  const closed = new Promise<void>((resolve) => child.once('close', () => { exited = true; resolve(); }));
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) if (l.trim() !== '') files.push({ ...(JSON.parse(l) as Omit<ReceivedLine, 'at'>), at: Date.now() });
  });
  child.stderr.on('data', (chunk: string) => (err += chunk));
  t.after(async () => {
    if (!exited) {
      child.kill('SIGKILL');
      await closed;
    }
  });
  await waitFor('the receiver subscribed', () => {
    if (exited) throw new Error(`vigilctl hub evidence exited: ${err}`);
    return err.includes('receiving evidence') ? true : undefined;
  }, 20_000);
  return {
    child, files, stderr: () => err,
    file: (eventId, kind, timeoutMs = 30_000) => waitFor(`the receiver's line for ${eventId} ${kind}`, () => {
      if (exited) throw new Error(`vigilctl hub evidence exited: ${err}`);
      return files.find((f) => f.event_id === eventId && (f.kind === kind || (!f.ok && f.path.endsWith(kind === 'clip' ? '.mp4.bad' : '.jpg.bad'))));
    }, timeoutMs, 10).catch((e: unknown) => {
      throw new Error(`${String(e)}; the receiver said: ${err.slice(-3000)}`);
    }),
    async stop(signal = 'SIGTERM') {
      if (!exited) child.kill(signal);
      await closed;
    },
  };
}
