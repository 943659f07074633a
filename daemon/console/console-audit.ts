import type { Auditor } from '../control/audit.js';

/** The principal of console audit records: `console:<user>`, or null before anyone logged in. */
export const principal = (user: string | null): string | null => (user === null ? null : `console:${user}`);

/**
 * Audit records of the console, in the command channel's shape (transport `console`): every change
 * made through it and every refusal (no session, CSRF, role, throttle, bad login). The Auditor's
 * per-minute bound applies, so a flood of refusals cannot fill the disk.
 */
export class ConsoleAudit {
  constructor(private readonly auditor: Auditor) {}

  accepted(method: string, user: string, requestId: string | null = null): void {
    this.auditor.audit({ outcome: 'accepted', transport: 'console', method: method.slice(0, 64), request_id: requestId, operator: principal(user), key_id: null });
  }

  refused(method: string, user: string | null, address: string, reason: string, requestId: string | null = null): void {
    this.auditor.audit({
      outcome: 'refused', transport: 'console', method: method.slice(0, 64), request_id: requestId, operator: principal(user), key_id: null,
      reason: `${reason} (from ${address})`.slice(0, 300),
    });
  }
}
