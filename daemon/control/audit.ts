import { z } from 'zod';
import type { Severity } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * One audit record: a command refused for want of authority, or a changing command accepted.
 * Stored as an event of kind `audit` (payload field `audit`) and sent to the hub as `vigil.audit/1`.
 */
export const auditEntrySchema = z.strictObject({
  outcome: z.enum(['accepted', 'refused']),
  /** `mqtt`: through the hub; `socket`: the local control socket (a technician on the device). */
  transport: z.enum(['mqtt', 'socket']),
  method: z.string().max(64),
  request_id: z.string().max(128).nullable(),
  /** The operator's configured name when the key is known; `local` on the socket. */
  operator: z.string().max(64).nullable(),
  key_id: z.string().max(128).nullable(),
  /** Why it was refused. */
  reason: z.string().max(300).optional(),
  /** Audit records left out before this one because of `remote.audit_per_minute`. */
  suppressed: z.number().int().min(0).optional(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** The event kind (and payload key) of audit records. */
export const AUDIT_EVENT_KIND = 'audit';

export type AuditRecorder = (entry: AuditEntry, severity: Severity) => void;

/**
 * Records audit entries through the event store, at most `perMinute` a minute: whoever can reach
 * the command topic must not be able to fill the disk with refusals. What is left out is counted
 * and reported with the next record.
 */
export class Auditor {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;
  private readonly now: () => number;

  constructor(private readonly record: AuditRecorder, private readonly perMinute: number, private readonly log: Logger,
    now?: () => number) {
    this.now = now ?? Date.now;
  }

  audit(entry: Omit<AuditEntry, 'suppressed'>): void {
    const now = this.now();
    if (now - this.windowStart >= 60_000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    const level = entry.outcome === 'refused' ? 'warn' : 'info';
    if (this.inWindow >= this.perMinute) {
      if (this.suppressed === 0) this.log.warn({ per_minute: this.perMinute }, 'too many audit records: counting the rest');
      this.suppressed += 1;
      return;
    }
    this.inWindow += 1;
    const full: AuditEntry = { ...entry, ...(this.suppressed > 0 ? { suppressed: this.suppressed } : {}) };
    this.suppressed = 0;
    this.log[level]({ audit: full }, entry.outcome === 'refused' ? 'command refused' : 'command accepted');
    try {
      this.record(full, entry.outcome === 'refused' ? 'warning' : 'info');
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'cannot record an audit event');
    }
  }
}
