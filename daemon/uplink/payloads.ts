import { z } from 'zod';
import { severitySchema } from '../config/schema.js';
import { evictionNoticeSchema, quarantineNoticeSchema } from '../store/types.js';

/**
 * The payload contract with the hub, defined once: the types are inferred from these schemas, the
 * uplink validates what it builds against them, and the AsyncAPI document is generated from them.
 * A breaking change gets a new schema name (`vigil.alert/2`), never an edit here.
 */

const isoTime = z.iso.datetime({ offset: true });

export const detectedObjectSchema = z.strictObject({
  label: z.string().min(1),
  score: z.number().min(0).max(1),
  /** x1, y1, x2, y2 in source pixels. */
  box: z.tuple([z.number(), z.number(), z.number(), z.number()]),
});

export const alertSchema = z.strictObject({
  schema: z.literal('vigil.alert/1'),
  /** uuid v7 of the stored event; the hub de-duplicates on it (delivery is at least once). */
  id: z.uuid({ version: 'v7' }),
  device: z.string().min(1),
  site: z.string().min(1),
  stream: z.string().min(1),
  rule: z.string().min(1),
  severity: severitySchema,
  /** Time of the frame, not of sending: an alert may leave the device long after an outage. */
  ts: isoTime,
  objects: z.array(detectedObjectSchema),
});
export type AlertPayload = z.infer<typeof alertSchema>;

export const streamStateSchema = z.strictObject({
  id: z.string().min(1),
  state: z.string().min(1),
  decoder: z.string().optional(),
  provider: z.string().optional(),
});
export type StreamState = z.infer<typeof streamStateSchema>;

export const stateSchema = z.strictObject({
  schema: z.literal('vigil.state/1'),
  state: z.enum(['online', 'offline']),
  device: z.string().min(1),
  site: z.string().min(1),
  version: z.string().min(1),
  /** When the message was built; for the last will that is when the connection was made. */
  ts: isoTime,
  /** Empty when offline: nothing on the device is known to be running then. */
  streams: z.array(streamStateSchema),
  /** Execution providers available for inference, in the order they are tried. */
  providers: z.array(z.string().min(1)),
});
export type StatePayload = z.infer<typeof stateSchema>;

const storageEnvelope = {
  schema: z.literal('vigil.storage/1'),
  /** uuid v7 of the storage event; the de-duplication key, as for alerts. */
  id: z.uuid({ version: 'v7' }),
  device: z.string().min(1),
  site: z.string().min(1),
  /** `critical` for a quarantined database; for evictions `alert` when alerts were lost, `warning` when other undelivered events were, `info` when only delivered ones were. */
  severity: severitySchema,
  /** When it happened on the device. */
  ts: isoTime,
};

/**
 * The device's storage reporting on itself: a corrupt database moved aside at start, or events
 * evicted to stay within the disk budget. Sent on `…/storage` through the outbox like any event.
 */
export const storageMessageSchema = z.discriminatedUnion('kind', [
  z.strictObject({ ...storageEnvelope, ...quarantineNoticeSchema.shape }),
  z.strictObject({ ...storageEnvelope, ...evictionNoticeSchema.shape }),
]);
export type StorageMessage = z.infer<typeof storageMessageSchema>;
