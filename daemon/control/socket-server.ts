import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import type { Service } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { handleLine, type ControlTarget, type Gate } from './handler.js';
import { errorReply, MAX_REQUEST_BYTES } from './protocol.js';

/** Is something already answering on this socket path (another vigild)? */
function answering(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(file);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
}

/**
 * The local control socket (`/run/vigil/vigild.sock`): newline-delimited JSON requests and replies.
 * Mode 0660 so that the `vigil` group (technicians, vigilctl) may use it and nobody else. A socket
 * file left by a crashed daemon is replaced; a live one belonging to another daemon is not.
 */
export class ControlSocket implements Service {
  readonly name = 'control';
  private server: net.Server | null = null;
  private readonly clients = new Set<net.Socket>();

  constructor(private readonly file: string, private readonly target: ControlTarget, private readonly log: Logger,
    private readonly gate?: Gate) {}

  async start(): Promise<void> {
    mkdirSync(path.dirname(this.file), { recursive: true });
    if (await answering(this.file)) throw new Error(`another process answers on ${this.file}`);
    rmSync(this.file, { force: true });
    const server = net.createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.file, () => { server.off('error', reject); resolve(); });
    });
    server.on('error', (err) => this.log.error({ err: errorMessage(err) }, 'control socket error'));
    chmodSync(this.file, 0o660);
    this.server = server;
    this.log.info({ socket: this.file }, 'control socket listening');
  }

  private serve(socket: net.Socket): void {
    this.clients.add(socket);
    socket.setEncoding('utf8');
    let buffered = '';
    // Replies leave in the order of their requests, though some (live changes) take a while.
    let replies: Promise<void> = Promise.resolve();
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        const reply = handleLine(this.target, line, this.log, this.gate);
        replies = replies.then(async () => {
          const text = JSON.stringify(await reply);
          if (!socket.destroyed) socket.write(`${text}\n`);
        });
      }
      if (buffered.length > MAX_REQUEST_BYTES) {
        socket.end(`${JSON.stringify(errorReply(null, 'too_large', `request longer than ${MAX_REQUEST_BYTES} bytes`))}\n`);
        buffered = '';
      }
    });
    socket.on('error', () => undefined); // a client that vanishes mid-reply is its own problem
    socket.on('close', () => this.clients.delete(socket));
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const c of this.clients) c.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.file, { force: true });
  }
}
