import { z } from 'zod';

/**
 * The command protocol, one definition for both transports: JSON lines over the local Unix socket
 * now, MQTT 5 request/response through the hub with the remote-management work. Every request has
 * an id the reply echoes; methods are a discriminated union so handlers are checked exhaustively.
 */
export const PROTOCOL_SCHEMA = 'vigil.cmd/1';
/** A request line longer than this is refused unread: a local client has no reason to send more. */
export const MAX_REQUEST_BYTES = 64 * 1024;

const requestId = z.string().min(1).max(128);

/**
 * Live management (daemon/manage, docs/live-management.md). Stream and rule specs are checked by
 * the config file's own schema once merged into the config, so here they are only objects; ids
 * name items of the running config. A null in `changes` or `value` removes the key (its default).
 */
const itemId = z.string().min(1).max(64);
const spec = z.record(z.string().max(64), z.unknown());
const candidate = z.strictObject({
  /** vigil.yaml text (YAML or JSON). */
  text: z.string().max(60_000).optional(),
  config: spec.optional(),
});
export const liveRequestSchemas = [
  z.strictObject({ id: requestId, method: z.literal('streams.list') }),
  z.strictObject({ id: requestId, method: z.literal('streams.add'), params: z.strictObject({ stream: spec }) }),
  z.strictObject({
    id: requestId, method: z.literal('streams.remove'),
    params: z.strictObject({ id: itemId, with_rules: z.boolean().default(false) }),
  }),
  z.strictObject({ id: requestId, method: z.literal('streams.enable'), params: z.strictObject({ id: itemId }) }),
  z.strictObject({ id: requestId, method: z.literal('streams.disable'), params: z.strictObject({ id: itemId }) }),
  z.strictObject({ id: requestId, method: z.literal('streams.set'), params: z.strictObject({ id: itemId, changes: spec }) }),
  z.strictObject({
    id: requestId, method: z.literal('rules.list'),
    params: z.strictObject({ stream: itemId.optional() }).prefault({}),
  }),
  z.strictObject({ id: requestId, method: z.literal('rules.add'), params: z.strictObject({ rule: spec }) }),
  z.strictObject({ id: requestId, method: z.literal('rules.remove'), params: z.strictObject({ id: itemId }) }),
  z.strictObject({ id: requestId, method: z.literal('rules.set'), params: z.strictObject({ id: itemId, changes: spec }) }),
  z.strictObject({
    id: requestId, method: z.literal('config.get'),
    params: z.strictObject({ path: z.string().max(256).optional() }).prefault({}),
  }),
  z.strictObject({
    id: requestId, method: z.literal('config.set'),
    params: z.strictObject({ path: z.string().min(1).max(256), value: z.unknown().refine((v) => v !== undefined, 'value is required') }),
  }),
  z.strictObject({ id: requestId, method: z.literal('config.validate'), params: candidate.refine(
    (c) => (c.text === undefined) !== (c.config === undefined), 'give either text or config') }),
  z.strictObject({ id: requestId, method: z.literal('config.diff'), params: candidate.refine(
    (c) => c.text === undefined || c.config === undefined, 'give text or config, not both').prefault({}) }),
  z.strictObject({
    id: requestId, method: z.literal('logs.tail'),
    params: z.strictObject({
      /** A follower's cursor: the `next` of the previous reply. */
      after: z.number().int().min(0).optional(),
      limit: z.number().int().min(1).max(2000).default(100),
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).optional(),
    }).prefault({}),
  }),
] as const;
/** Of the live-management methods, those that only read; every other one changes the device. */
export const LIVE_READ_ONLY_METHODS = ['streams.list', 'rules.list', 'config.get', 'config.validate', 'config.diff', 'logs.tail'] as const;

export const requestSchema = z.discriminatedUnion('method', [
  z.strictObject({ id: requestId, method: z.literal('status') }),
  z.strictObject({
    id: requestId,
    method: z.literal('events.list'),
    params: z.strictObject({
      stream: z.string().min(1).max(64).optional(),
      limit: z.number().int().min(1).max(10_000).default(20),
    }).prefault({}),
  }),
  /** Stop cleanly and exit with RESTART_EXIT_CODE, so that systemd (Restart=on-failure) starts vigild again. */
  z.strictObject({ id: requestId, method: z.literal('restart') }),
  ...liveRequestSchemas,
]);
export type Request = z.infer<typeof requestSchema>;
export type Method = Request['method'];

export const errorCodeSchema = z.enum(['bad_request', 'unknown_method', 'failed', 'too_large', 'invalid']);
export type ErrorCode = z.infer<typeof errorCodeSchema>;

export const replySchema = z.discriminatedUnion('status', [
  z.strictObject({ schema: z.literal(PROTOCOL_SCHEMA), id: z.string().nullable(), status: z.literal('ok'), body: z.unknown() }),
  z.strictObject({
    schema: z.literal(PROTOCOL_SCHEMA), id: z.string().nullable(), status: z.literal('error'),
    error: z.strictObject({ code: errorCodeSchema, message: z.string() }),
  }),
]);
export type Reply = z.infer<typeof replySchema>;

export const okReply = (id: string, body: unknown): Reply => ({ schema: PROTOCOL_SCHEMA, id, status: 'ok', body });
export const errorReply = (id: string | null, code: ErrorCode, message: string): Reply =>
  ({ schema: PROTOCOL_SCHEMA, id, status: 'error', error: { code, message } });
