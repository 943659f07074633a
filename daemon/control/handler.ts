import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { errorReply, okReply, requestSchema, type Reply, type Request } from './protocol.js';

/** What the control plane may ask of the running daemon: narrow, so it cannot reach further in. */
export interface ControlTarget {
  status(): unknown;
  listEvents(query: { stream?: string | undefined; limit: number }): unknown;
  /** Federated learning; absent when `learning.enabled` is off. */
  flStatus?(): unknown;
}

function dispatch(target: ControlTarget, req: Request): unknown {
  switch (req.method) {
    case 'status': return target.status();
    case 'events.list': return target.listEvents({ stream: req.params.stream, limit: req.params.limit });
    case 'fl.status':
      if (!target.flStatus) throw new Error('federated learning is not enabled on this device (learning.enabled)');
      return target.flStatus();
  }
}

/**
 * Turns one raw request line into one reply. It never throws: malformed JSON, unknown methods and
 * failing handlers all become error replies, so no request can take the daemon down.
 */
export function handleLine(target: ControlTarget, line: string, log: Logger): Reply {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return errorReply(null, 'bad_request', 'request is not valid JSON');
  }
  const id = typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'string'
    ? (raw as { id: string }).id.slice(0, 128) : null;
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success) {
    const method = (raw as { method?: unknown } | null)?.method;
    if (typeof method === 'string' && parsed.error.issues.some((i) => i.path[0] === 'method')) {
      return errorReply(id, 'unknown_method', `unknown method "${method.slice(0, 64)}"`);
    }
    return errorReply(id, 'bad_request', parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; '));
  }
  try {
    return okReply(parsed.data.id, dispatch(target, parsed.data));
  } catch (err) {
    log.warn({ method: parsed.data.method, err: errorMessage(err) }, 'control request failed');
    return errorReply(parsed.data.id, 'failed', errorMessage(err));
  }
}
