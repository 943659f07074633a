import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Logger } from '../log.js';
import type { ConsoleAudit } from './console-audit.js';
import { clientAddress, cookies, HttpError, readJson, sendJson } from './http-util.js';
import type { LoginThrottle } from './login-throttle.js';
import { sameToken, type Session, type SessionStore } from './sessions.js';
import type { Role, UserStore } from './user-store.js';

export const SESSION_COOKIE = 'vigil_session';

/** Who is asking: a logged-in user with their role as the user store says now. */
export interface Principal {
  user: string;
  role: Role;
  session: Session;
  address: string;
}

const loginSchema = z.strictObject({ user: z.string().max(128), password: z.string().max(1024) });

const ROLE_RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };
export const atLeast = (role: Role, needed: Role): boolean => ROLE_RANK[role] >= ROLE_RANK[needed];

export interface ConsoleAuthOptions {
  users: UserStore;
  sessions: SessionStore;
  throttle: LoginThrottle;
  audit: ConsoleAudit;
  /** Cookies are marked Secure when the console serves TLS. */
  secure: boolean;
  log: Logger;
}

/** Logins, logouts, and the session and CSRF check every other API request goes through. */
export class ConsoleAuth {
  constructor(private readonly o: ConsoleAuthOptions) {}

  async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const address = clientAddress(req);
    const parsed = loginSchema.safeParse(await readJson(req));
    if (!parsed.success) throw new HttpError(400, 'bad_request', 'expected {"user": "...", "password": "..."}');
    const { user, password } = parsed.data;
    const wait = this.o.throttle.retryAfterMs(user, address);
    if (wait > 0) {
      const s = Math.ceil(wait / 1000);
      this.o.audit.refused('console.login', user.slice(0, 32), address, `login throttled: too many failed logins, retry in ${s} s`);
      throw new HttpError(429, 'throttled', `too many failed logins: try again in ${s} s`, { 'retry-after': String(s) });
    }
    const who = await this.o.users.authenticate(user, password);
    if (!who) {
      this.o.throttle.failed(user, address);
      this.o.audit.refused('console.login', user.slice(0, 32), address, 'bad user name or password');
      throw new HttpError(401, 'bad_credentials', 'wrong user name or password');
    }
    this.o.throttle.succeeded(user, address);
    const session = this.o.sessions.create(who.name, this.o.users.get(who.name)?.password.hash ?? '');
    this.o.audit.accepted('console.login', who.name);
    this.o.log.info({ user: who.name, address }, 'console login');
    sendJson(res, 200, { user: who.name, role: who.role, csrf: session.csrf }, { 'set-cookie': this.cookie(session.id, null) });
  }

  logout(p: Principal, res: ServerResponse): void {
    this.o.sessions.end(p.session.id);
    this.o.audit.accepted('console.logout', p.user);
    res.writeHead(204, { 'set-cookie': this.cookie('', 0), 'cache-control': 'no-store' }).end();
  }

  /**
   * The request's principal, or an HttpError: 401 without a live session (audited when a cookie was
   * sent, i.e. forged or expired, or when it would have changed something), 403 on a request that
   * is not a GET/HEAD without the session's CSRF token or from another origin.
   */
  check(req: IncomingMessage, what: string, reading = req.method === 'GET' || req.method === 'HEAD'): Principal {
    const address = clientAddress(req);
    const id = cookies(req).get(SESSION_COOKIE);
    const session = this.o.sessions.take(id);
    const found = session ? this.o.users.get(session.user) : undefined;
    // Deleted, or its password changed since this login (by an admin here, or with vigilctl): the session is over.
    const user = found && found.password.hash === session?.passwordStamp ? found : undefined;
    if (!session || !user) {
      if (session) this.o.sessions.end(session.id);
      if (id !== undefined || !reading) this.o.audit.refused(what, null, address, id === undefined ? 'no session' : 'unknown or expired session');
      throw new HttpError(401, 'no_session', 'log in first (no valid session)');
    }
    if (!reading) {
      const origin = req.headers.origin;
      if (origin !== undefined && !sameOrigin(origin, req.headers.host)) {
        this.o.audit.refused(what, user.name, address, `cross-origin request from ${origin.slice(0, 100)}`);
        throw new HttpError(403, 'cross_origin', 'cross-origin requests are refused');
      }
      const token = req.headers['x-csrf-token'];
      if (!sameToken(typeof token === 'string' ? token : undefined, session.csrf)) {
        this.o.audit.refused(what, user.name, address, token === undefined ? 'missing CSRF token' : 'wrong CSRF token');
        throw new HttpError(403, 'csrf', 'missing or wrong X-CSRF-Token header');
      }
    }
    return { user: user.name, role: user.role, session, address };
  }

  /** 403 and an audit record unless the principal's role is at least `needed`. */
  requireRole(p: Principal, needed: Role, what: string): void {
    if (atLeast(p.role, needed)) return;
    this.o.audit.refused(what, p.user, p.address, `role ${p.role} may not (needs ${needed})`);
    throw new HttpError(403, 'forbidden', `your role (${p.role}) may not do this: it needs ${needed}`);
  }

  private cookie(value: string, maxAge: number | null): string {
    return [`${SESSION_COOKIE}=${value}`, 'HttpOnly', 'SameSite=Strict', 'Path=/', ...(this.o.secure ? ['Secure'] : []),
      ...(maxAge !== null ? [`Max-Age=${maxAge}`] : [])].join('; ');
  }
}

/** Whether an Origin header names this server (the Host the request came to). */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}
