import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { z } from 'zod';
import { ruleSchema } from '../config/schema.js';
import type { ControlTarget } from '../control/handler.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { ConsoleAudit } from './console-audit.js';
import { sameOrigin, type ConsoleAuth, type Principal } from './console-auth.js';
import { runRpc } from './console-rpc.js';
import type { DoctorRunner } from './doctor-runner.js';
import type { LiveViews } from './live-view.js';
import { sendFile } from './file-range.js';
import { COMMON_HEADERS, HttpError, readJson, sendJson } from './http-util.js';
import type { SessionStore } from './sessions.js';
import type { TelemetryHistory } from './telemetry-history.js';
import { roleSchema, UserError, type UserStore } from './user-store.js';

/** What the video side offers the console (the stream supervisor's newest full-resolution frame and detections). */
export interface StreamPictures {
  /** The newest full-resolution frame as a JPEG, boxes and rules drawn on it when `overlay`, and when it was captured (ms since the epoch). */
  snapshot(stream: string, opts: { overlay: boolean; maxWidth: number | null }): Promise<{ jpeg: Buffer; ts: number }>;
  /** The newest detections and the stream's zones and lines, in source pixels. */
  overlay(stream: string): unknown;
}

export interface ConsoleApiOptions {
  auth: ConsoleAuth;
  audit: ConsoleAudit;
  users: UserStore;
  sessions: SessionStore;
  target: ControlTarget;
  history: TelemetryHistory;
  doctor: DoctorRunner;
  stateDir: string;
  pictures?: StreamPictures;
  live: LiveViews;
  log: Logger;
}

/** Stream and rule ids as the config allows them; event ids are uuids. Anything else never reaches a file name. */
const ITEM_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const EVENT_ID = /^[0-9a-fA-F-]{1,64}$/;

const newUserSchema = z.strictObject({ user: z.string().max(64), password: z.string().max(1024), role: roleSchema });
const passwordSchema = z.strictObject({ password: z.string().max(1024) });
const roleBodySchema = z.strictObject({ role: roleSchema });

const USER_STATUS: Readonly<Record<UserError['code'], number>> = { invalid: 400, exists: 409, not_found: 404, last_admin: 409 };

/** The JSON API under /api (docs/console.md); every route but login needs a session, every non-GET the CSRF token. */
export class ConsoleApi {
  private ruleJsonSchema: unknown = null;

  constructor(private readonly o: ConsoleApiOptions) {}

  stop(): void {
    this.o.live.stop();
  }

  async handle(req: IncomingMessage, res: ServerResponse, pathname: string, query: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    const what = `${method} ${pathname}`.slice(0, 64);
    if (pathname === '/api/login') {
      if (method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'log in with POST', { allow: 'POST' });
      await this.o.auth.login(req, res);
      return;
    }
    // Every other route: the session first, so that nothing, not even whether a route exists, is told without one.
    const p = this.o.auth.check(req, what);
    const parts = pathname.split('/').slice(2);
    const seg = (i: number): string => decodeSegment(parts[i]);
    const route = `${method} /${parts.map((s, i) => (i > 0 && (parts[0] === 'streams' || parts[0] === 'events' || parts[0] === 'users') && i === 1 ? ':id' : s)).join('/')}`;
    switch (route) {
      case 'POST /logout': return this.o.auth.logout(p, res);
      case 'GET /me': return sendJson(res, 200, { user: p.user, role: p.role, csrf: p.session.csrf });
      case 'POST /rpc': {
        const body = await readJson(req);
        const r = await runRpc(this.o.target, body, p, this.o.audit, this.o.log);
        return sendJson(res, r.status, r.body);
      }
      case 'GET /streams/:id/snapshot.jpg': return this.streamSnapshot(res, seg(1), query);
      case 'GET /streams/:id/overlay': return sendJson(res, 200, this.requirePictures().overlay(itemId(seg(1))));
      case 'GET /events/:id/snapshot.jpg': case 'HEAD /events/:id/snapshot.jpg':
        return this.evidence(req, res, seg(1), 'snapshot');
      case 'GET /events/:id/clip.mp4': case 'HEAD /events/:id/clip.mp4':
        return this.evidence(req, res, seg(1), 'clip');
      case 'GET /telemetry': {
        const hours = query.has('hours') ? Number(query.get('hours')) : 24;
        if (!Number.isFinite(hours) || hours <= 0 || hours > 24) throw new HttpError(400, 'bad_request', 'hours: expected a number in (0, 24]');
        return sendJson(res, 200, { samples: this.o.history.since(hours) });
      }
      case 'GET /doctor': {
        try {
          return sendJson(res, 200, await this.o.doctor.report());
        } catch (err) {
          throw new HttpError(503, 'unavailable', errorMessage(err));
        }
      }
      case 'GET /schema/rule':
        this.ruleJsonSchema ??= z.toJSONSchema(ruleSchema, { io: 'input', unrepresentable: 'any' });
        return sendJson(res, 200, this.ruleJsonSchema, { 'cache-control': 'private, max-age=300' });
      case 'GET /users':
        this.o.auth.requireRole(p, 'admin', what);
        return sendJson(res, 200, { users: this.o.users.list() });
      case 'POST /users': return this.addUser(req, res, p, what);
      case 'DELETE /users/:id': return this.removeUser(res, p, seg(1), what);
      case 'POST /users/:id/password': return this.setPassword(req, res, p, seg(1), what);
      case 'POST /users/:id/role': return this.setRole(req, res, p, seg(1), what);
      default:
        throw new HttpError(404, 'not_found', `no such API route: ${method} ${pathname.slice(0, 100)}`);
    }
  }

  /**
   * WebSocket upgrades: only /api/live, with a session and from this origin (a page elsewhere could
   * otherwise open it with the user's cookie: browsers send cookies with WebSocket handshakes).
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const pathname = (req.url ?? '').split('?')[0];
    try {
      if (pathname !== '/api/live') throw new HttpError(404, 'not_found', 'no such WebSocket: try /api/live');
      const p = this.o.auth.check(req, 'GET /api/live', true);
      const origin = req.headers.origin;
      if (origin !== undefined && !sameOrigin(origin, req.headers.host)) {
        this.o.audit.refused('GET /api/live', p.user, p.address, `cross-origin live view from ${origin.slice(0, 100)}`);
        throw new HttpError(403, 'cross_origin', 'cross-origin requests are refused');
      }
      this.o.live.upgrade(req, socket, head, p.user);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      if (!(err instanceof HttpError)) this.o.log.warn({ err: errorMessage(err) }, 'console: live view upgrade failed');
      socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\n\r\n`);
    }
  }

  private requirePictures(): StreamPictures {
    if (!this.o.pictures) throw new HttpError(503, 'unavailable', 'live pictures are not available in this daemon yet (no full-resolution frame source)');
    return this.o.pictures;
  }

  private async streamSnapshot(res: ServerResponse, id: string, query: URLSearchParams): Promise<void> {
    const pictures = this.requirePictures();
    const stream = itemId(id);
    const overlay = query.get('overlay') === '1';
    const mw = query.get('max_width');
    const maxWidth = mw === null ? null : Number(mw);
    if (maxWidth !== null && (!Number.isInteger(maxWidth) || maxWidth < 16 || maxWidth > 8192)) {
      throw new HttpError(400, 'bad_request', 'max_width: expected a whole number of pixels, 16-8192');
    }
    let shot: { jpeg: Buffer; ts: number };
    try {
      shot = await pictures.snapshot(stream, { overlay, maxWidth });
    } catch (err) {
      throw new HttpError(404, 'not_found', errorMessage(err));
    }
    res.writeHead(200, {
      ...COMMON_HEADERS, 'content-type': 'image/jpeg', 'content-length': String(shot.jpeg.length), 'cache-control': 'no-store',
      // When the frame was captured, so that the page can match it with the overlay of that moment.
      'x-frame-ts': String(Math.round(shot.ts)),
    });
    res.end(shot.jpeg);
  }

  /**
   * An event's snapshot or clip. The event must exist on this device (events.show); the snapshot's
   * path is the one the store recorded, the clip is `<storage.dir>/evidence/<id>.mp4`, and either
   * must really lie under `<storage.dir>/evidence`.
   */
  private async evidence(req: IncomingMessage, res: ServerResponse, id: string, kind: 'snapshot' | 'clip'): Promise<void> {
    if (!EVENT_ID.test(id)) throw new HttpError(400, 'bad_request', 'not an event id');
    if (!this.o.target.showEvent) throw new HttpError(503, 'unavailable', 'events cannot be read in this daemon');
    let detail: { snapshot?: { path: string } | null; clip?: { path: string } | null };
    try {
      detail = this.o.target.showEvent(id) as typeof detail;
    } catch (err) {
      throw new HttpError(404, 'not_found', errorMessage(err));
    }
    const dir = path.join(this.o.stateDir, 'evidence');
    const recorded = kind === 'snapshot' ? detail.snapshot?.path : detail.clip?.path;
    const file = recorded ?? path.join(dir, `${id}.${kind === 'snapshot' ? 'jpg' : 'mp4'}`);
    await sendFile(req, res, file, dir, kind === 'snapshot' ? 'image/jpeg' : 'video/mp4');
  }

  private async addUser(req: IncomingMessage, res: ServerResponse, p: Principal, what: string): Promise<void> {
    this.o.auth.requireRole(p, 'admin', what);
    const parsed = newUserSchema.safeParse(await readJson(req));
    if (!parsed.success) throw new HttpError(400, 'bad_request', 'expected {"user", "password", "role": viewer|operator|admin}');
    const info = await this.users(() => this.o.users.add(parsed.data.user, parsed.data.role, parsed.data.password));
    this.o.audit.accepted(`console.users.add ${info.name}`, p.user);
    sendJson(res, 201, info);
  }

  private async removeUser(res: ServerResponse, p: Principal, name: string, what: string): Promise<void> {
    this.o.auth.requireRole(p, 'admin', what);
    await this.users(() => this.o.users.remove(name));
    this.o.sessions.endUser(name);
    this.o.audit.accepted(`console.users.remove ${name}`, p.user);
    res.writeHead(204, { ...COMMON_HEADERS, 'cache-control': 'no-store' }).end();
  }

  /** An admin sets anyone's password; any user their own. The user's other sessions end. */
  private async setPassword(req: IncomingMessage, res: ServerResponse, p: Principal, name: string, what: string): Promise<void> {
    if (name !== p.user) this.o.auth.requireRole(p, 'admin', what);
    const parsed = passwordSchema.safeParse(await readJson(req));
    if (!parsed.success) throw new HttpError(400, 'bad_request', 'expected {"password": "..."}');
    await this.users(() => this.o.users.setPassword(name, parsed.data.password));
    this.o.sessions.endUser(name, p.session.id);
    // One's own change keeps the session it was made from.
    if (name === p.user) p.session.passwordStamp = this.o.users.get(name)?.password.hash ?? '';
    this.o.audit.accepted(`console.users.password ${name}`, p.user);
    res.writeHead(204, { ...COMMON_HEADERS, 'cache-control': 'no-store' }).end();
  }

  /** An admin changes a role; the last admin keeps theirs. Takes effect at the user's next request. */
  private async setRole(req: IncomingMessage, res: ServerResponse, p: Principal, name: string, what: string): Promise<void> {
    this.o.auth.requireRole(p, 'admin', what);
    const parsed = roleBodySchema.safeParse(await readJson(req));
    if (!parsed.success) throw new HttpError(400, 'bad_request', 'expected {"role": "viewer" | "operator" | "admin"}');
    const info = await this.users(() => this.o.users.setRole(name, parsed.data.role));
    this.o.audit.accepted(`console.users.role ${name} ${info.role}`, p.user);
    sendJson(res, 200, info);
  }

  private async users<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof UserError) throw new HttpError(USER_STATUS[err.code], err.code, err.message);
      throw err;
    }
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error' };

function decodeSegment(s: string | undefined): string {
  try {
    return decodeURIComponent(s ?? '');
  } catch {
    throw new HttpError(400, 'bad_path', 'malformed percent-encoding in the path');
  }
}

function itemId(id: string): string {
  if (!ITEM_ID.test(id)) throw new HttpError(400, 'bad_request', 'not a stream id');
  return id;
}
