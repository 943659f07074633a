import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import type { Service } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { handleLine, type ControlTarget, type Gate } from './handler.js';
import { ControlConnection, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './socket-connection.js';

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
 * file left by a crashed daemon is replaced; a live one belonging to another daemon is not. Each
 * client is held to output limits (socket-connection.ts): one that never reads its replies cannot
 * grow the daemon.
 */
export class ControlSocket implements Service {
  readonly name = 'control';
  private server: net.Server | null = null;
  private readonly clients = new Set<net.Socket>();

  private readonly limits: ConnectionLimits;

  constructor(private readonly file: string, private readonly target: ControlTarget, private readonly log: Logger,
    private readonly gate?: Gate, limits: Partial<ConnectionLimits> = {}) {
    this.limits = { ...DEFAULT_CONNECTION_LIMITS, ...limits };
  }

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
    socket.on('close', () => this.clients.delete(socket));
    new ControlConnection(socket, (line) => handleLine(this.target, line, this.log, this.gate), this.limits, this.log);
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
