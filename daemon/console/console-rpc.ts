import { randomUUID } from 'node:crypto';
import type { Gate, ControlTarget } from '../control/handler.js';
import { handleRequest } from '../control/handler.js';
import { errorReply, methodAccess, type ErrorCode, type Reply } from '../control/protocol.js';
import type { Logger } from '../log.js';
import { atLeast, type Principal } from './console-auth.js';
import type { ConsoleAudit } from './console-audit.js';
import type { Role } from './user-store.js';

/** Changing methods an operator may run besides reading: reviews and rules. Everything else that changes needs an admin. */
const OPERATOR_METHODS: ReadonlySet<string> = new Set(['events.ack', 'rules.add', 'rules.set', 'rules.remove']);

/** The least role that may run `method`; READ_ONLY_METHODS (control/protocol.ts) is the viewer's list. */
export function roleFor(method: string): Role {
  if (methodAccess(method) === 'read') return 'viewer';
  return OPERATOR_METHODS.has(method) ? 'operator' : 'admin';
}

const STATUS_OF: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400, unknown_method: 400, invalid: 400, too_large: 413, not_authorised: 403,
  // The method ran and could not do it (no such event, model manager not started): the request was fine.
  failed: 422,
};

/**
 * `POST /api/rpc {method, params}`: the control protocol's one path (control/handler.ts), with the
 * same validation as vigilctl and the hub, behind a gate that checks the user's role. Refusals and
 * accepted changes are audited; a review is stored as given by `console:<user>`, whatever `by` the
 * request carried.
 */
export async function runRpc(target: ControlTarget, body: unknown, p: Principal, audit: ConsoleAudit, log: Logger):
Promise<{ status: number; body: unknown }> {
  const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
  const { method, params } = (isObject ? body : {}) as { method?: unknown; params?: unknown };
  const id = randomUUID();
  const gate: Gate = Object.assign((req: Parameters<Gate>[0]) => {
    const needed = roleFor(req.method);
    if (!atLeast(p.role, needed)) {
      audit.refused(req.method, p.user, p.address, `role ${p.role} may not run ${req.method} (needs ${needed})`, id);
      return errorReply(req.id, 'not_authorised', `your role (${p.role}) may not run ${req.method}: it needs ${needed}`);
    }
    if (req.method === 'events.ack') req.params.by = `console:${p.user}`;
    if (needed !== 'viewer') audit.accepted(req.method, p.user, id);
    return null;
  }, {
    // Unknown or changing methods a viewer may not run are refused before their params are checked.
    admit: (m: string) => {
      if (atLeast(p.role, roleFor(m))) return null;
      audit.refused(m || '(none)', p.user, p.address, `role ${p.role} may not run ${m || 'an unnamed method'} (needs ${roleFor(m)})`, id);
      return errorReply(id, 'not_authorised', `your role (${p.role}) may not run ${m || 'this'}: it needs ${roleFor(m)}`);
    },
  });
  const reply: Reply = await handleRequest(target, { id, method, ...(params !== undefined ? { params } : {}) }, log, gate);
  if (reply.status === 'ok') return { status: 200, body: { result: reply.body } };
  return { status: STATUS_OF[reply.error.code], body: { error: reply.error } };
}
