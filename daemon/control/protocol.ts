import { UPLOAD_ID } from '../models/uploads.js';
import { z } from 'zod';

/**
 * The command protocol, one definition for both transports: JSON lines over the local Unix socket
 * now, MQTT 5 request/response through the hub with the remote-management work. Every request has
 * an id the reply echoes; methods are a discriminated union so handlers are checked exhaustively.
 */
export const PROTOCOL_SCHEMA = 'vigil.cmd/1';
/** A request line longer than this is refused unread: a local client has no reason to send more. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** Bytes of a package per models.upload request: base64 of it and the request's fields stay under MAX_REQUEST_BYTES. */
export const UPLOAD_PIECE_BYTES = 45 * 1024;

const requestId = z.string().min(1).max(128);
const eventIdSchema = z.string().min(1).max(64);

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
  z.strictObject({ id: requestId, method: z.literal('models.list') }),
  z.strictObject({
    id: requestId,
    method: z.literal('models.install'),
    params: z.strictObject({
      /** A package file on the device (absolute path), or an http(s) URL the daemon downloads. */
      file: z.string().min(1).max(4096).optional(),
      url: z.url({ protocol: /^https?$/ }).max(4096).optional(),
      /** A package sent with models.upload (what vigilctl models install FILE does). */
      upload: z.string().regex(UPLOAD_ID).optional(),
      activate: z.boolean().default(true),
    }).refine((p) => [p.file, p.url, p.upload].filter((v) => v !== undefined).length === 1, { message: 'give exactly one of file, url and upload' }),
  }),
  z.strictObject({
    id: requestId,
    method: z.literal('models.upload'),
    params: z.strictObject({
      upload: z.string().regex(UPLOAD_ID, 'expected 8-64 letters, digits or dashes'),
      offset: z.number().int().min(0),
      /** Base64; a piece of at most UPLOAD_PIECE_BYTES keeps the request under MAX_REQUEST_BYTES. */
      data: z.base64().max(Math.ceil(UPLOAD_PIECE_BYTES / 3) * 4),
    }),
  }),
  z.strictObject({
    id: requestId,
    method: z.literal('models.activate'),
    params: z.strictObject({
      name: z.string().min(1).max(64),
      version: z.string().min(1).max(64),
      /** Check it now, switch at the next start (needed when its input size differs from the running one). */
      at_restart: z.boolean().default(false),
    }),
  }),
  z.strictObject({
    id: requestId,
    method: z.literal('models.rollback'),
    params: z.strictObject({ name: z.string().min(1).max(64) }),
  }),
  /** Records a test alert (`test: true`) that goes to the hub through the outbox; replies with its status. */
  z.strictObject({ id: requestId, method: z.literal('test_alert.send') }),
  /** Where a test alert is: recorded, PUBACK from the broker, acknowledgement from the hub. */
  z.strictObject({ id: requestId, method: z.literal('test_alert.status'), params: z.strictObject({ event_id: z.uuid() }) }),
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
  ...liveRequestSchemas,
  z.strictObject({ id: requestId, method: z.literal('fl.status') }),
  /** A JPEG of a stream's newest frame at the camera's resolution (vigilctl snapshot; docs/evidence-snapshots.md). */
  z.strictObject({
    id: requestId, method: z.literal('snapshot'),
    params: z.strictObject({
      stream: itemId,
      /** Draw the latest tracks and the stream's rule zones and lines. */
      overlay: z.boolean().default(false),
      /** Scale down to at most this width; default `evidence.max_width`. */
      max_width: z.number().int().min(64).max(8192).optional(),
    }),
  }),
  /**
   * INT8 calibration frames from the device's own streams, sampled over time and motion-weighted
   * (vigilctl models quantize --stream; docs/int8.md): start a job, fetch its frames once it has
   * ended (a page per reply), drop them.
   */
  z.strictObject({
    id: requestId, method: z.literal('calibration.start'),
    params: z.strictObject({
      streams: z.array(itemId).min(1).max(16),
      /** Frames kept in all, shared among the streams; each at the model's input size in the daemon's memory. */
      count: z.number().int().min(1).max(1000).default(300),
      duration_s: z.number().min(1).max(86_400).default(600),
    }),
  }),
  z.strictObject({
    id: requestId, method: z.literal('calibration.fetch'),
    params: z.strictObject({
      job: z.uuid(),
      from: z.number().int().min(0).default(0),
      /** Pixel bytes per reply (at least one frame): a reply stays near a megabyte of JSON. */
      max_bytes: z.number().int().min(1).max(4 * 1024 * 1024).default(700_000),
    }),
  }),
  z.strictObject({ id: requestId, method: z.literal('calibration.drop'), params: z.strictObject({ job: z.uuid() }) }),
]);
export type Request = z.infer<typeof requestSchema>;
export type Method = Request['method'];

export const errorCodeSchema = z.enum(['bad_request', 'unknown_method', 'failed', 'too_large', 'not_authorised', 'invalid']);
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

/**
 * Which methods only read. The one place that classifies them: a method missing here is treated as
 * changing, so one added later needs a signed request until someone decides it only reads.
 */
export const READ_ONLY_METHODS: ReadonlySet<string> = new Set<string>([
  'status',
  'events.list',
  'models.list',
  'test_alert.status',
  'events.show',
  'events.tail',
  ...LIVE_READ_ONLY_METHODS,
  'fl.status',
  'snapshot',
  'calibration.fetch',
]);

/** Methods that only stage data for a later command (which is audited); they need change rights. */
export const STAGING_METHODS: ReadonlySet<string> = new Set<string>(['models.upload']);

export const methodAccess = (method: string): 'read' | 'change' => (READ_ONLY_METHODS.has(method) ? 'read' : 'change');

/**
 * The signature envelope a remote request carries next to its protocol fields (`auth`); see
 * daemon/control/signature.ts for what is signed. It is not part of `requestSchema`, so methods
 * added to the protocol need not know about it.
 */
export const authSchema = z.strictObject({
  /** Fingerprint of the operator's Ed25519 public key (`vigilctl keygen` prints it). */
  key_id: z.string().min(1).max(128),
  /** When the operator signed, ms since the epoch. */
  ts: z.number().int().min(0),
  /** Unique per request; the device refuses a nonce it has seen within the skew window. */
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'expected 16-64 base64url characters'),
  /** Ed25519 signature, base64. */
  sig: z.string().min(1).max(256),
});
export type Auth = z.infer<typeof authSchema>;
