import { randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Command } from 'commander';
import { UPLOAD_PIECE_BYTES } from '../../daemon/control/protocol.js';
import type { Result } from '../../daemon/control/results.js';
import { call, DEFAULT_SOCKET } from '../control-client.js';
import { CliError } from '../errors.js';
import type { Output } from '../output.js';
import { quantizeCommand } from './models-quantize.js';

type ActivationResult = Result<'models.activate'>;
type ModelsList = Result<'models.list'>;

/** Installs download, verify, load, self-test and warm up before they answer: minutes on a Jetson building an engine. */
const LONG_MS = 15 * 60_000;

interface Common { socket: string; json?: boolean }

const socketOption = (cmd: Command): Command => cmd
  .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
  .option('--json', 'the reply as JSON');

/**
 * Sends a package file to the daemon over its socket, in pieces: the daemon reads what it was sent,
 * not a path, which the unit's PrivateTmp and ProtectHome would hide from it (a file in /tmp or a
 * home directory). Returns the upload id models.install takes.
 */
async function uploadPackage(socket: string, file: string): Promise<string> {
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, 2);
  });
  const id = randomUUID();
  try {
    const piece = Buffer.alloc(UPLOAD_PIECE_BYTES);
    for (let offset = 0; ;) {
      const { bytesRead } = await handle.read(piece, 0, piece.length, offset);
      if (bytesRead === 0 && offset > 0) return id;
      await call(socket, { method: 'models.upload', params: { upload: id, offset, data: piece.subarray(0, bytesRead).toString('base64') } });
      if (bytesRead === 0) return id;
      offset += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

function activationLine(a: ActivationResult): string {
  const head = a.deferred
    ? `${a.name} ${a.version} checked; it replaces ${a.previous} at the next start of vigild`
    : `${a.name} ${a.version} active (was ${a.previous}) on ${a.provider} ${a.precision}; load ${a.load_ms.toFixed(0)} ms, warm-up ${a.warmup_ms.toFixed(0)} ms`;
  const st = a.self_test ? `\nself-test: ${a.self_test.join('; ')}` : '';
  const pr = a.probation_s > 0 ? `\nprobation: ${a.probation_s} s; it is rolled back by itself if it fails (vigilctl models list)` : '';
  return head + st + pr;
}

function listText(l: ModelsList): string {
  const lines: string[] = [];
  for (const m of l.models) {
    lines.push(`${m.name}: ${m.active}${m.state === 'probation' ? ' (on probation' +
      `${m.probation ? `, ${m.probation.elapsed_s} s, ${m.probation.inferences} inferences, ${m.probation.failed} failed` : ''})` : ''}` +
      `  provider ${m.provider ?? '-'}  previous ${m.previous ?? '-'}`);
    if (m.last_rollback) {
      const r = m.last_rollback;
      lines.push(`  last rollback ${r.at}: ${r.from} -> ${r.to} (${r.automatic ? 'automatic' : 'by hand'}): ${r.reason}`);
    }
    for (const v of m.versions) {
      lines.push(`  ${v.version === m.active ? '*' : ' '} ${v.version.padEnd(16)} ${v.precisions.join('/').padEnd(14)} ${mib(v.bytes).padStart(10)}  ` +
        `installed ${v.installed_at}  key ${v.key_id}`);
    }
  }
  for (const d of l.downloads) {
    lines.push(`downloading ${d.url}: ${d.received} of ${d.total ?? '?'} bytes`);
  }
  return lines.join('\n');
}

/** `vigilctl models`: the model store of the running daemon, over the local socket. */
export function modelsCommand(out: Output): Command {
  const cmd = new Command('models').description('model packages: list, install, activate, roll back');

  socketOption(cmd.command('list').description('active, previous and installed versions of each model, probation and rollbacks'))
    .action(async (opts: Common) => {
      const body = await call(opts.socket, { method: 'models.list' });
      out.raw(opts.json ? JSON.stringify(body) : listText(body));
    });

  socketOption(cmd.command('install').argument('<package>', 'a package file, or an http(s) URL the daemon downloads (resumable)')
    .description('verify a signed package, store it and (unless --no-activate) switch the streams to it')
    .option('--no-activate', 'only verify and store it')
    .option('--at-restart', 'switch at the next start of vigild instead of now (a new input size needs it)'))
    .action(async (source: string, opts: Common & { activate: boolean; atRestart?: boolean }) => {
      const isUrl = /^https?:\/\//.test(source);
      const upload = isUrl ? null : await uploadPackage(opts.socket, source);
      const body = await call(opts.socket, {
        method: 'models.install',
        params: { ...(upload === null ? { url: source } : { upload }), activate: opts.activate },
      }, LONG_MS).catch((err: unknown) => {
        // The daemon's refusal names its staged copy of the upload; the operator knows the file by the name they gave.
        if (upload === null || !(err instanceof CliError)) throw err;
        throw new CliError(err.message.replaceAll(new RegExp(`\\S*upload-${upload}\\.vpkg`, 'g'), source), err.exitCode);
      });
      if (opts.json) {
        out.raw(JSON.stringify(body));
        return;
      }
      out.raw(`${body.name} ${body.version} ${body.installed ? 'installed' : 'was already installed'}`);
      if (body.activation) out.raw(activationLine(body.activation));
    });

  socketOption(cmd.command('activate').argument('<name>').argument('<version>')
    .description('switch the streams of a model to an installed version, between two frames')
    .option('--at-restart', 'check it now, switch at the next start of vigild'))
    .action(async (name: string, version: string, opts: Common & { atRestart?: boolean }) => {
      const body = await call(opts.socket, { method: 'models.activate', params: { name, version, at_restart: opts.atRestart ?? false } }, LONG_MS);
      out.raw(opts.json ? JSON.stringify(body) : activationLine(body));
    });

  socketOption(cmd.command('rollback').argument('<name>').description('step back to the previous version (or the model vigil.yaml names)'))
    .action(async (name: string, opts: Common) => {
      const body = await call(opts.socket, { method: 'models.rollback', params: { name } }, LONG_MS) as { from: string; to: string };
      out.raw(opts.json ? JSON.stringify(body) : `${name}: rolled back from ${body.from} to ${body.to}`);
    });
  // Runs here, not in the daemon: calibration takes minutes of CPU the frame path must not lose.
  cmd.addCommand(quantizeCommand((s) => out.raw(s)));
  return cmd;
}
