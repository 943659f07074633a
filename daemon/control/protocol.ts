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
  z.strictObject({ id: requestId, method: z.literal('fl.status') }),
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
