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
const eventIdSchema = z.string().min(1).max(64);

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
  // Review of events (docs/response-tiers.md): one event in full, an operator's verdict, and the
  // events after a cursor (an event id; ids sort by creation).
  z.strictObject({ id: requestId, method: z.literal('events.show'), params: z.strictObject({ id: eventIdSchema }) }),
  z.strictObject({
    id: requestId,
    method: z.literal('events.ack'),
    params: z.strictObject({
      id: eventIdSchema,
      verdict: z.enum(['true_alarm', 'false_alarm']),
      note: z.string().max(2000).optional(),
      /** Who gives the verdict, stored as the review's source: `vigilctl:<user>`, `hub:<operator>`. */
      by: z.string().min(1).max(128).optional(),
    }),
  }),
  z.strictObject({
    id: requestId,
    method: z.literal('events.tail'),
    params: z.strictObject({
      after: z.string().max(64).default(''),
      limit: z.number().int().min(1).max(1000).default(100),
    }).prefault({}),
  }),
]);
export type Request = z.infer<typeof requestSchema>;
export type Method = Request['method'];

export const errorCodeSchema = z.enum(['bad_request', 'unknown_method', 'failed', 'too_large']);
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
