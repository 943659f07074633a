import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { errorReply, okReply, requestSchema, type Reply, type Request } from './protocol.js';

/** What the control plane may ask of the running daemon: narrow, so it cannot reach further in. */
export interface ControlTarget {
  status(): unknown;
  listEvents(query: { stream?: string | undefined; limit: number }): unknown;
  /** Model lifecycle; absent where the daemon has no model store. Long-running: answered when done. */
  models?: {
    list(): Promise<unknown>;
    install(req: { file?: string | undefined; url?: string | undefined; activate: boolean }): Promise<unknown>;
    activate(name: string, version: string, atRestart: boolean): Promise<unknown>;
    rollback(name: string): Promise<unknown>;
  };
}

function models(target: ControlTarget): NonNullable<ControlTarget['models']> {
  if (!target.models) throw new Error('model management is not available in this daemon');
  return target.models;
}

function dispatch(target: ControlTarget, req: Request): unknown {
  switch (req.method) {
    case 'status': return target.status();
    case 'events.list': return target.listEvents({ stream: req.params.stream, limit: req.params.limit });
    case 'models.list': return models(target).list();
    case 'models.install': return models(target).install(req.params);
    case 'models.activate': return models(target).activate(req.params.name, req.params.version, req.params.at_restart);
    case 'models.rollback': return models(target).rollback(req.params.name);
  }
}

/**
 * Turns one raw request line into one reply. It never throws: malformed JSON, unknown methods and
 * failing handlers all become error replies, so no request can take the daemon down.
 */
export function handleLine(target: ControlTarget, line: string, log: Logger): Reply | Promise<Reply> {
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
    const body = dispatch(target, parsed.data);
    // Long operations (model installs) answer when they finish; the others stay synchronous.
    if (body instanceof Promise) {
      const { id: reqId, method } = parsed.data;
      return body.then((b) => okReply(reqId, b), (err: unknown) => {
        log.warn({ method, err: errorMessage(err) }, 'control request failed');
        return errorReply(reqId, 'failed', errorMessage(err));
      });
    }
    return okReply(parsed.data.id, body);
  } catch (err) {
    log.warn({ method: parsed.data.method, err: errorMessage(err) }, 'control request failed');
    return errorReply(parsed.data.id, 'failed', errorMessage(err));
  }
}
