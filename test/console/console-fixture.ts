import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { validateConfig } from '../../daemon/config/load.js';
import { consoleSchema } from '../../daemon/console/console-config.js';
import type { StreamPictures } from '../../daemon/console/console-api.js';
import { ConsoleServer } from '../../daemon/console/console-server.js';
import { UserStore, type Role } from '../../daemon/console/user-store.js';
import { Auditor } from '../../daemon/control/audit.js';
import type { ControlTarget } from '../../daemon/control/handler.js';
import { EventRecorder } from '../../daemon/events/event-recorder.js';
import { silentLogger } from '../../daemon/log.js';
import type { DaemonParts } from '../../daemon/parts.js';
import { EventStore } from '../../daemon/store/event-store.js';
import type { StoredEvent } from '../../daemon/store/types.js';
import { EventReviews } from '../../daemon/tiers/event-reviews.js';
import { tempDir } from '../helpers/shared.js';

export interface Answer { status: number; headers: IncomingHttpHeaders; body: Buffer; text: string; json: unknown }

/** One HTTP request as written (the path is sent exactly as given, `..` and all). */
export function call(port: number, method: string, urlPath: string, opts: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Always a length: Node's client sends a DELETE's body neither chunked nor measured otherwise.
    const headers = { ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}), ...opts.headers };
    const req = httpRequest({ host: '127.0.0.1', port, method, path: urlPath, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {
          // Not JSON (a page, a picture): `text` and `body` say what it was.
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

export interface Client {
  user: string;
  cookie: string;
  csrf: string;
  get(p: string): Promise<Answer>;
  post(p: string, body: unknown, headers?: Record<string, string>): Promise<Answer>;
  rpc(method: string, params?: unknown): Promise<Answer>;
}

export async function login(port: number, user: string, password: string): Promise<Client> {
  const r = await call(port, 'POST', '/api/login', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password }) });
  if (r.status !== 200) throw new Error(`login of ${user}: ${r.status} ${r.text}`);
  const cookie = (r.headers['set-cookie']?.[0] ?? '').split(';')[0] ?? '';
  const csrf = (r.json as { csrf: string }).csrf;
  const client: Client = {
    user, cookie, csrf,
    get: (p) => call(port, 'GET', p, { headers: { cookie } }),
    post: (p, body, headers = {}) => call(port, 'POST', p, {
      headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': csrf, ...headers }, body: JSON.stringify(body),
    }),
    rpc: (method, params) => client.post('/api/rpc', { method, ...(params !== undefined ? { params } : {}) }),
  };
  return client;
}

export const PASSWORD = 'a long enough password';

export interface Fixture {
  port: number;
  store: EventStore;
  stateDir: string;
  users: UserStore;
  server: ConsoleServer;
  /** Audit events stored so far. */
  audits(): StoredEvent[];
  /** Moves the console's clock on. */
  advance(ms: number): void;
}

/**
 * The console server in this process over a real event store (SQLite in a temporary folder), with
 * the control target's event side as the daemon builds it (EventReviews) and audit records stored
 * by the daemon's own EventRecorder.
 */
export async function startConsole(t: { after(fn: () => Promise<void> | void): void }, opts: {
  users?: Partial<Record<string, Role>>; config?: Record<string, unknown>; pictures?: StreamPictures; target?: Partial<ControlTarget>;
} = {}): Promise<Fixture> {
  const stateDir = await tempDir(t, 'vigil-console-');
  const store = EventStore.open(stateDir);
  t.after(() => store.close());
  const cfg = validateConfig({ device: { id: 'cam-1', site: 'lab' }, storage: { dir: stateDir }, mqtt: { url: 'mqtt://127.0.0.1:1' } }, 'test');
  const parts: DaemonParts = { cfg, store, writer: null, uplink: null, testAlerts: null, telemetry: null, tiers: null, learning: null };
  const recorder = new EventRecorder(parts, silentLogger());
  const users = new UserStore(stateDir);
  const accounts: Partial<Record<string, Role>> = opts.users ?? { admin: 'admin', op: 'operator', viewer: 'viewer' };
  for (const [name, role] of Object.entries(accounts)) {
    if (role !== undefined) await users.add(name, role, PASSWORD);
  }
  let offset = 0;
  const now = (): number => Date.now() + offset;
  const target: ControlTarget = {
    status: () => ({ device: cfg.device }),
    listEvents: ({ stream, limit }) => store.listEvents({ limit, ...(stream !== undefined ? { stream } : {}) }),
    ...new EventReviews(() => store).target(),
    ...opts.target,
  };
  const auditor = new Auditor(recorder.recordAudit, 10_000, silentLogger());
  const server = new ConsoleServer({
    config: consoleSchema.parse({ enabled: true, listen: '127.0.0.1:0', ...opts.config }), stateDir, tls: null, target, auditor,
    telemetry: () => null, configFile: null, log: silentLogger(), webRoot: path.join(stateDir, 'no-pages'), now,
    ...(opts.pictures ? { pictures: opts.pictures } : {}),
  });
  const address: AddressInfo = await server.start();
  t.after(() => server.stop());
  return {
    port: address.port, store, stateDir, users, server,
    audits: () => store.listEvents({ limit: 10_000, order: 'asc' }).filter((e) => e.kind === 'audit'),
    advance: (ms) => { offset += ms; },
  };
}
