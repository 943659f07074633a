import type { Severity } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { AuditEntry } from '../uplink/payloads.js';

// The entry's schema is part of the hub payload contract, so it lives with the payloads; re-exported for the callers here.
export { auditEntrySchema, type AuditEntry } from '../uplink/payloads.js';

/** The event kind (and payload key) of audit records. */
export const AUDIT_EVENT_KIND = 'audit';

export type AuditRecorder = (entry: AuditEntry, severity: Severity) => void;

/** The clock and timer the auditor uses; injectable so tests need not wait a minute. */
export interface AuditClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: AuditClock = {
  now: Date.now,
  // Unref'd: a pending count report must not keep a stopping daemon alive.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

const WINDOW_MS = 60_000;

/**
 * Records audit entries through the event store, at most `perMinute` a minute: whoever can reach
 * the command topic must not be able to fill the disk with refusals. What is left out is counted
 * and reported with the next record, or at the end of the minute if none comes: the newest entry
 * left out is then recorded with `suppressed` counting those left out before it, so the hub hears
 * of a burst even when it was the last thing that happened.
 */
export class Auditor {
  private windowStart = Number.NEGATIVE_INFINITY;
  private inWindow = 0;
  private suppressed = 0;
  /** The newest entry left out, recorded with the count when the window ends. */
  private lastSuppressed: Omit<AuditEntry, 'suppressed'> | null = null;
  private flushTimer: unknown = null;
  private readonly clock: AuditClock;

  constructor(private readonly record: AuditRecorder, private readonly perMinute: number, private readonly log: Logger,
    clock?: (() => number) | AuditClock) {
    this.clock = clock === undefined ? realClock : typeof clock === 'function' ? { ...realClock, now: clock } : clock;
  }

  audit(entry: Omit<AuditEntry, 'suppressed'>): void {
    const now = this.clock.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perMinute) {
      if (this.suppressed === 0) this.log.warn({ per_minute: this.perMinute }, 'too many audit records: counting the rest');
      this.suppressed += 1;
      this.lastSuppressed = entry;
      this.flushTimer ??= this.clock.setTimeout(() => this.flush(), Math.max(0, this.windowStart + WINDOW_MS - now));
      return;
    }
    this.inWindow += 1;
    this.write(entry, this.suppressed);
  }

  /** Cancels a pending count report (daemon stop); what was counted is logged instead. */
  stop(): void {
    if (this.flushTimer !== null) this.clock.clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.suppressed > 0) this.log.warn({ suppressed: this.suppressed }, 'audit records left out and not reported before stop');
  }

  /** The window ended with entries left out and no record since to carry their count. */
  private flush(): void {
    this.flushTimer = null;
    const entry = this.lastSuppressed;
    if (this.suppressed === 0 || entry === null) return;
    this.windowStart = this.clock.now();
    this.inWindow = 1;
    this.write(entry, this.suppressed - 1);
  }

  private write(entry: Omit<AuditEntry, 'suppressed'>, suppressed: number): void {
    const full: AuditEntry = { ...entry, ...(suppressed > 0 ? { suppressed } : {}) };
    this.suppressed = 0;
    this.lastSuppressed = null;
    if (this.flushTimer !== null) {
      this.clock.clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    const refused = entry.outcome === 'refused';
    this.log[refused ? 'warn' : 'info']({ audit: full }, refused ? 'command refused' : 'command accepted');
    try {
      this.record(full, refused ? 'warning' : 'info');
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'cannot record an audit event');
    }
  }
}
