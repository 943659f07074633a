import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from './user-store.js';

export interface Session {
  /** 256 random bits, base64url: the cookie's value. */
  readonly id: string;
  readonly user: string;
  /** Sent back in X-CSRF-Token on every request that is not a GET. */
  readonly csrf: string;
  readonly createdAt: number;
  lastSeenAt: number;
  /** The user's password hash at login: a password changed since (here or by vigilctl) ends the session. */
  passwordStamp: string;
}

export interface SessionLimits {
  idleMs: number;
  maxAgeMs: number;
  /** Sessions kept at most; the least recently used one goes first. */
  maxSessions: number;
}

/**
 * Console sessions, in memory: they end when the daemon restarts (docs/console.md), which costs a
 * login and keeps no secrets on disk. The role is not kept here but read from the user store at
 * each request, so that a demoted or deleted user loses access at once.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly limits: SessionLimits, private readonly now: () => number = Date.now) {}

  create(user: string, passwordStamp: string): Session {
    const at = this.now();
    const s: Session = {
      id: randomBytes(32).toString('base64url'), user, csrf: randomBytes(32).toString('base64url'), createdAt: at, lastSeenAt: at, passwordStamp,
    };
    this.sweep(at);
    while (this.sessions.size >= this.limits.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    this.sessions.set(s.id, s);
    return s;
  }

  /** The live session with this id, touched; null when unknown, idle too long or too old (then it is gone). */
  take(id: string | undefined): Session | null {
    if (id === undefined || id.length !== 43) return null;
    const s = this.sessions.get(id);
    if (!s) return null;
    const at = this.now();
    if (this.expired(s, at)) {
      this.sessions.delete(id);
      return null;
    }
    s.lastSeenAt = at;
    // Re-inserted so that the map's order is least recently used first.
    this.sessions.delete(id);
    this.sessions.set(id, s);
    return s;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** Ends every session of a user (deleted, or password changed). */
  endUser(user: string, except?: string): void {
    for (const [id, s] of this.sessions) if (s.user === user && id !== except) this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  private expired(s: Session, at: number): boolean {
    return at - s.lastSeenAt > this.limits.idleMs || at - s.createdAt > this.limits.maxAgeMs;
  }

  private sweep(at: number): void {
    for (const [id, s] of this.sessions) if (this.expired(s, at)) this.sessions.delete(id);
  }
}

/** Constant-time comparison of a token the client sent with the session's. */
export function sameToken(sent: string | undefined, expected: string): boolean {
  if (sent === undefined) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export type { Role };
