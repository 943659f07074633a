import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Auditor } from '../control/audit.js';
import type { ControlTarget } from '../control/handler.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { parseListen } from '../telemetry/prometheus.js';
import type { TelemetryPayload } from '../uplink/payloads.js';
import type { ConsoleConfig } from './console-config.js';
import { ConsoleApi, type StreamPictures } from './console-api.js';
import { LiveViews, type LiveSource } from './live-view.js';
import { ConsoleAudit } from './console-audit.js';
import { ConsoleAuth } from './console-auth.js';
import { DoctorRunner } from './doctor-runner.js';
import { clientAddress, COMMON_HEADERS, HttpError, sendError } from './http-util.js';
import { LoginThrottle } from './login-throttle.js';
import { RequestLimiter } from './request-limiter.js';
import { SessionStore } from './sessions.js';
import { StaticFiles } from './static-files.js';
import { TelemetryHistory } from './telemetry-history.js';
import { UserStore } from './user-store.js';

export interface ConsoleServerOptions {
  config: ConsoleConfig;
  /** `storage.dir`: the accounts file and the evidence files live there. */
  stateDir: string;
  /** PEM certificate and key; null serves plain HTTP (checked against the listen address by consoleTls). */
  tls: { cert: Buffer; key: Buffer } | null;
  target: ControlTarget;
  /** The console's own auditor (transport `console`), recording through the event store. */
  auditor: Auditor;
  /** The telemetry service's report built now (TelemetryService.snapshot); null while telemetry is off. */
  telemetry: () => TelemetryPayload | null;
  /** The daemon's config file, for the doctor; null without one (demo). */
  configFile: string | null;
  /** Live pictures of the streams; absent until the video side offers them (503). */
  pictures?: StreamPictures;
  /** Compressed video for live views (WebSocket /api/live); absent: 503. */
  live?: LiveSource;
  /** Whether a stream id names a configured stream (live views check it). */
  knownStream?: (id: string) => boolean;
  log: Logger;
  /** Tests: another folder of pages, a faster telemetry sample, a clock. */
  webRoot?: string;
  telemetryEveryMs?: number;
  now?: () => number;
}

/** Headers and request line must arrive within this; a slow client holds a connection no longer. */
const HEADERS_TIMEOUT_MS = 10_000;
/** The whole request (body included) must arrive within this. */
const REQUEST_TIMEOUT_MS = 30_000;
/** A connection with nothing happening on it is closed after this (answers being sent count as something). */
const IDLE_TIMEOUT_MS = 60_000;

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

/** Whether a plain-HTTP console may listen here; an error names the way out. */
export function checkExposure(listen: string, tls: boolean, insecureHttp: boolean): void {
  const { host } = parseListen(listen);
  if (!tls && !insecureHttp && !isLoopback(host)) {
    throw new Error(`console.listen ${listen} is not loopback and there is no certificate (console.tls, or mqtt.cert/key): ` +
      'passwords would cross the network in clear. Give a certificate, listen on 127.0.0.1, or set console.insecure_http: true');
  }
}

/**
 * The device console's listener (docs/console.md): the pages (daemon/console/web, built into
 * dist/console-web) and the JSON API behind them. A third way in next to the control socket and the
 * hub's MQTT commands, through the same ControlTarget. It must never cost the video: everything it
 * does is bounded (connections, body size, header and request time, sessions, throttle records,
 * telemetry history), each request is wrapped so that a throw is a 500 and a log line, and it is
 * off the frame path entirely: nothing here is called per frame.
 */
export class ConsoleServer {
  private server: Server | null = null;
  private readonly log: Logger;
  private readonly files: StaticFiles;
  private readonly api: ConsoleApi;
  private readonly history: TelemetryHistory;
  /** Open connections, oldest first (after the TLS handshake when TLS). */
  private readonly sockets = new Set<Socket>();
  private readonly limiter: RequestLimiter;
  /** Connections that have delivered at least one whole request. */
  private readonly served = new WeakSet<Socket>();

  constructor(private readonly o: ConsoleServerOptions) {
    this.log = o.log;
    const now = o.now ?? Date.now;
    const c = o.config;
    const audit = new ConsoleAudit(o.auditor);
    const users = new UserStore(o.stateDir);
    const sessions = new SessionStore({ idleMs: c.session_idle_min * 60_000, maxAgeMs: c.session_max_h * 3_600_000, maxSessions: 256 }, now);
    const auth = new ConsoleAuth({ users, sessions, throttle: new LoginThrottle(c.login_free_failures, now), audit, secure: o.tls !== null, log: o.log });
    this.limiter = new RequestLimiter(c.requests_per_second, c.requests_per_second * 2, now);
    this.history = new TelemetryHistory(o.telemetry, o.log, o.telemetryEveryMs ?? 60_000, now);
    this.files = new StaticFiles(o.webRoot);
    this.api = new ConsoleApi({
      auth, audit, users, sessions, target: o.target, history: this.history, doctor: new DoctorRunner(o.configFile, now),
      stateDir: o.stateDir, log: o.log, ...(o.pictures ? { pictures: o.pictures } : {}),
      live: new LiveViews(o.live ?? null, c.max_viewers, o.knownStream ?? (() => false), o.log),
    });
  }

  async start(): Promise<AddressInfo> {
    const { listen, max_connections: maxConnections, insecure_http: insecure } = this.o.config;
    checkExposure(listen, this.o.tls !== null, insecure);
    const options = {
      headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: 5_000,
      // Node checks the two timeouts above on this period (30 s by default): slow clients are cut within 2 s of their deadline.
      connectionsCheckingInterval: 2_000, maxHeaderSize: 16 * 1024,
    };
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.onRequest(req, res);
    const server = this.o.tls
      ? createHttpsServer({ ...options, cert: this.o.tls.cert, key: this.o.tls.key, minVersion: 'TLSv1.2', handshakeTimeout: HEADERS_TIMEOUT_MS }, handler)
      : createHttpServer(options, handler);
    // A hard bound on sockets, handshakes included; the cap proper is kept below, where it can choose whom to drop.
    server.maxConnections = maxConnections * 2;
    server.maxHeadersCount = 64;
    server.setTimeout(IDLE_TIMEOUT_MS, (socket: Socket) => socket.destroy());
    server.on(this.o.tls ? 'secureConnection' : 'connection', (socket: Socket) => this.admit(socket, maxConnections));
    server.on('request', (req: IncomingMessage) => this.served.add(req.socket));
    // A bad request line, a TLS handshake gone wrong: answered or dropped, never thrown.
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.served.add(req.socket);
      this.api.upgrade(req, socket, head);
    });
    const { host, port } = parseListen(listen);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.warn({ err: errorMessage(err) }, 'console listener error'));
    this.server = server;
    this.history.start();
    const address = server.address() as AddressInfo;
    this.log.info({ url: `${this.o.tls ? 'https' : 'http'}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/`,
      tls: this.o.tls !== null }, 'console listening');
    return address;
  }

  async stop(): Promise<void> {
    this.history.stop();
    this.api.stop();
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * The connection cap. At the cap, the oldest connection that never delivered a whole request
   * (a slow-headers flood, a port scan) makes room for the new one, so that such a flood cannot
   * lock out a user whose requests complete; when every open connection has served requests, the
   * new one is refused.
   */
  private admit(socket: Socket, max: number): void {
    if (this.sockets.size >= max) {
      let victim: Socket | undefined;
      for (const s of this.sockets) {
        if (!this.served.has(s)) {
          victim = s;
          break;
        }
      }
      if (victim === undefined) {
        socket.destroy();
        return;
      }
      this.sockets.delete(victim);
      victim.destroy();
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.route(req, res).catch((err: unknown) => this.fail(req, res, err));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.limiter.take(clientAddress(req))) {
      throw new HttpError(429, 'too_many_requests', `more than ${this.o.config.requests_per_second} requests a second from this address`, { 'retry-after': '1' });
    }
    const url = req.url ?? '/';
    // Only origin-form targets: an absolute URL or `*` names no page of this server.
    if (!url.startsWith('/')) throw new HttpError(400, 'bad_path', 'request target must be a path');
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    if (pathname === '/api' || pathname.startsWith('/api/')) {
      await this.api.handle(req, res, pathname, query);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method_not_allowed', 'pages are read with GET', { allow: 'GET, HEAD' });
    await this.files.serve(req, res, pathname);
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      // Mid-answer (a client gone while a file was sent): nothing to tell it.
      res.destroy();
      return;
    }
    if (err instanceof HttpError) {
      // A refused body was not read to its end: the connection cannot carry another request.
      const close = err.status === 413 ? { connection: 'close' } : {};
      sendError(res, err.status, err.code, err.message, { ...err.headers, ...close });
      return;
    }
    this.log.warn({ method: req.method, url: (req.url ?? '').slice(0, 200), err: errorMessage(err) }, 'console request failed');
    try {
      sendError(res, 500, 'internal', 'the console could not answer this request (logged on the device)', { ...COMMON_HEADERS });
    } catch {
      res.destroy();
    }
  }
}
