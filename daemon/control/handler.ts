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
  /** Model lifecycle; absent where the daemon has no model store. Long-running: answered when done. */
  models?: {
    list(): Promise<unknown>;
    install(req: { file?: string | undefined; url?: string | undefined; upload?: string | undefined; activate: boolean }): Promise<unknown>;
    upload?(id: string, offset: number, data: Buffer): Promise<unknown>;
    activate(name: string, version: string, atRestart: boolean): Promise<unknown>;
    rollback(name: string): Promise<unknown>;
  };
  /** Optional so that targets without an uplink (tests, tools) need not implement them. */
  sendTestAlert?(): unknown;
  testAlertStatus?(eventId: string): unknown;
  /** Event review (tiers/event-reviews.ts); optional so that a target without a store still serves the rest. */
  showEvent?(id: string): unknown;
  ackEvent?(ack: { id: string; verdict: 'true_alarm' | 'false_alarm'; note?: string | undefined; by?: string | undefined }): unknown;
  tailEvents?(query: { after: string; limit: number }): unknown;
  /** Streams, rules, config and logs (daemon/manage); absent where the daemon offers none. */
  live?: LiveManager;
  /** Federated learning; absent when `learning.enabled` is off. */
  flStatus?(): unknown;
  /** A stream's newest full-resolution frame as a JPEG (evidence/snapshot-control.ts). */
  snapshot?(req: { stream: string; overlay: boolean; max_width?: number | undefined }): Promise<unknown>;
  /** INT8 calibration frames sampled from the streams (models/quantize/calibration-jobs.ts). */
  calibration?: {
    start(req: { streams: string[]; count: number; duration_s: number }): unknown;
    fetch(req: { job: string; from: number; max_bytes: number }): unknown;
    drop(req: { job: string }): unknown;
  };
}

function liveOf(target: ControlTarget): LiveManager {
  if (!target.live) throw new Error('live management is not available on this daemon');
  return target.live;
}

const unsupported = (method: string): never => { throw new Error(`${method} is not available on this daemon`); };

function required<F>(fn: F | undefined, what: string): F {
  if (fn === undefined) throw new Error(`${what} are not available in this daemon`);
  return fn;
}

function models(target: ControlTarget): NonNullable<ControlTarget['models']> {
  if (!target.models) throw new Error('model management is not available in this daemon');
  return target.models;
}

/** What a request carried besides its protocol fields: the signature envelope and the params as sent. */
export interface Envelope {
  auth: unknown;
  rawParams: unknown;
}

/**
 * Decides whether a well-formed request may run, before it runs: an error reply refuses it, null
 * lets it through. Each transport brings its own (signatures for MQTT, an audit for the socket).
 */
export type Gate = ((req: Request, envelope: Envelope) => Reply | null) & {
  /** Runs before the request is parsed (method as sent, '' if none): a refusal here gives no schema feedback. */
  admit?: (method: string, id: string | null, envelope: Envelope) => Reply | null;
};

function dispatch(target: ControlTarget, req: Request): unknown {
  switch (req.method) {
    case 'status': return target.status();
    case 'events.list': return target.listEvents({ stream: req.params.stream, limit: req.params.limit });
    case 'restart':
      if (!target.restart) throw new Error('restart is not available: nothing supervises this daemon');
      return target.restart();
    case 'models.list': return models(target).list();
    case 'models.install': return models(target).install(req.params);
    case 'models.upload': {
      const m = models(target);
      if (!m.upload) throw new Error('model uploads are not available in this daemon');
      return m.upload(req.params.upload, req.params.offset, Buffer.from(req.params.data, 'base64'));
    }
    case 'models.activate': return models(target).activate(req.params.name, req.params.version, req.params.at_restart);
    case 'models.rollback': return models(target).rollback(req.params.name);
    case 'test_alert.send': return required(target.sendTestAlert?.bind(target), 'test alerts')();
    case 'test_alert.status': return required(target.testAlertStatus?.bind(target), 'test alerts')(req.params.event_id);
    case 'events.show': return target.showEvent ? target.showEvent(req.params.id) : unsupported(req.method);
    case 'events.ack': return target.ackEvent ? target.ackEvent(req.params) : unsupported(req.method);
    case 'events.tail': return target.tailEvents ? target.tailEvents(req.params) : unsupported(req.method);
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
    case 'snapshot': return target.snapshot ? target.snapshot(req.params) : unsupported(req.method);
    case 'calibration.start': return target.calibration ? target.calibration.start(req.params) : unsupported(req.method);
    case 'calibration.fetch': return target.calibration ? target.calibration.fetch(req.params) : unsupported(req.method);
    case 'calibration.drop': return target.calibration ? target.calibration.drop(req.params) : unsupported(req.method);
    case 'fl.status':
      if (!target.flStatus) throw new Error('federated learning is not enabled on this device (learning.enabled)');
      return target.flStatus();
  }
}

/**
 * Turns one raw request line into one reply. It never rejects: malformed JSON, unknown methods and
 * failing handlers all become error replies, so no request can take the daemon down.
 */
export function handleLine(target: ControlTarget, line: string, log: Logger, gate?: Gate): Reply | Promise<Reply> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return errorReply(null, 'bad_request', 'request is not valid JSON');
  }
  return handleRequest(target, raw, log, gate);
}

/**
 * The one path every transport takes once it has a JSON value: the `auth` envelope is set aside,
 * the rest is parsed as a protocol request, the transport's gate decides, then the method runs.
 * It never throws.
 */
export function handleRequest(target: ControlTarget, raw: unknown, log: Logger, gate?: Gate): Reply | Promise<Reply> {
  const isObject = typeof raw === 'object' && raw !== null && !Array.isArray(raw);
  const id = isObject && typeof (raw as { id?: unknown }).id === 'string'
    ? (raw as { id: string }).id.slice(0, 128) : null;
  let envelope: Envelope = { auth: undefined, rawParams: undefined };
  if (isObject) {
    const { auth, ...rest } = raw as Record<string, unknown>;
    envelope = { auth, rawParams: rest['params'] };
    raw = rest;
    const method = rest['method'];
    const early = gate?.admit?.(typeof method === 'string' ? method : '', id, envelope);
    if (early) return early;
  }
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success) {
    const method = (raw as { method?: unknown } | null)?.method;
    if (typeof method === 'string' && parsed.error.issues.some((i) => i.path[0] === 'method')) {
      return errorReply(id, 'unknown_method', `unknown method "${method.slice(0, 64)}"`);
    }
    return errorReply(id, 'bad_request', parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ').slice(0, 1000));
  }
  try {
    const refusal = gate?.(parsed.data, envelope);
    if (refusal) return refusal;
    const body = dispatch(target, parsed.data);
    // Long operations (model installs) answer when they finish; the others stay synchronous.
    if (body instanceof Promise) {
      const { id: reqId, method } = parsed.data;
      return body.then((b) => okReply(reqId, b), (err: unknown) => failure(reqId, method, err, log));
    }
    return okReply(parsed.data.id, body);
  } catch (err) {
    return failure(parsed.data.id, parsed.data.method, err, log);
  }
}

function failure(id: string, method: string, err: unknown, log: Logger): Reply {
  // A rejected config change: every problem with its path, as `vigild --check-config` gives them.
  if (err instanceof ConfigError) return errorReply(id, 'invalid', err.problems.join('; '));
  log.warn({ method, err: errorMessage(err) }, 'control request failed');
  return errorReply(id, 'failed', errorMessage(err));
}
