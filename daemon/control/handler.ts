import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { LiveManager } from '../manage/live-manager.js';
import { errorReply, okReply, requestSchema, type Reply, type Request } from './protocol.js';

/** What the control plane may ask of the running daemon: narrow, so it cannot reach further in. */
export interface ControlTarget {
  status(): unknown;
  listEvents(query: { stream?: string | undefined; limit: number }): unknown;
  /** Replies first, then stops the daemon so that its supervisor starts it again; absent where nothing would. */
  restart?(): unknown;
  /** Streams, rules, config and logs (daemon/manage); absent where the daemon offers none. */
  live?: LiveManager;
}

function liveOf(target: ControlTarget): LiveManager {
  if (!target.live) throw new Error('live management is not available on this daemon');
  return target.live;
}

function dispatch(target: ControlTarget, req: Request): unknown {
  switch (req.method) {
    case 'status': return target.status();
    case 'events.list': return target.listEvents({ stream: req.params.stream, limit: req.params.limit });
    case 'restart':
      if (!target.restart) throw new Error('restart is not available: nothing supervises this daemon');
      return target.restart();
    case 'streams.list': return liveOf(target).listStreams();
    case 'streams.add': return liveOf(target).addStream(req.params.stream);
    case 'streams.remove': return liveOf(target).removeStream(req.params.id, req.params.with_rules);
    case 'streams.enable': return liveOf(target).setStreamEnabled(req.params.id, true);
    case 'streams.disable': return liveOf(target).setStreamEnabled(req.params.id, false);
    case 'streams.set': return liveOf(target).setStream(req.params.id, req.params.changes);
    case 'rules.list': return liveOf(target).listRules(req.params.stream);
    case 'rules.add': return liveOf(target).addRule(req.params.rule);
    case 'rules.remove': return liveOf(target).removeRule(req.params.id);
    case 'rules.set': return liveOf(target).setRule(req.params.id, req.params.changes);
    case 'config.get': return liveOf(target).getConfig(req.params.path);
    case 'config.set': return liveOf(target).setConfig(req.params.path, req.params.value);
    case 'config.validate': return liveOf(target).validateCandidate(req.params);
    case 'config.diff': return liveOf(target).diff(req.params);
    case 'logs.tail': return liveOf(target).tailLogs(req.params);
  }
}

/**
 * Turns one raw request line into one reply. It never rejects: malformed JSON, unknown methods and
 * failing handlers all become error replies, so no request can take the daemon down.
 */
export async function handleLine(target: ControlTarget, line: string, log: Logger): Promise<Reply> {
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
    return okReply(parsed.data.id, await dispatch(target, parsed.data));
  } catch (err) {
    // A rejected config change: every problem with its path, as `vigild --check-config` gives them.
    if (err instanceof ConfigError) return errorReply(parsed.data.id, 'invalid', err.problems.join('; '));
    log.warn({ method: parsed.data.method, err: errorMessage(err) }, 'control request failed');
    return errorReply(parsed.data.id, 'failed', errorMessage(err));
  }
}
