import { z } from 'zod';
import type { Severity } from '../config/schema.js';

const box = z.tuple([z.number(), z.number(), z.number(), z.number()]);

export const eventObjectSchema = z.object({ label: z.string(), score: z.number(), box });
export type EventObject = z.infer<typeof eventObjectSchema>;

/** What an event carries beyond its columns; kept open so that rule kinds can add fields. */
export const eventPayloadSchema = z.looseObject({ objects: z.array(eventObjectSchema) });
export type EventPayload = z.infer<typeof eventPayloadSchema>;

/** An event as the analytics stage hands it over; the store gives it an id and a creation time. */
export interface NewEvent {
  /** Time of the frame the event was detected in, ms since the epoch. */
  ts: number;
  stream: string;
  rule: string;
  severity: Severity;
  kind: string;
  payload: EventPayload;
}

export interface StoredEvent extends NewEvent {
  /** uuid v7 */
  id: string;
  createdAt: number;
  /** When the broker acknowledged the event's outbox message; null while it is pending. */
  uplinkedAt: number | null;
}

/** A message to queue for the broker together with an event, in the same transaction. */
export interface OutboxMessage {
  topic: string;
  payload: string;
  qos: 0 | 1;
  /** Lower is sent first. */
  priority: number;
}

export interface OutboxRow extends OutboxMessage {
  seq: number;
  eventId: string | null;
  createdAt: number;
  /** How many times it has been handed to the MQTT client. */
  attempts: number;
}

export interface OutboxStats {
  depth: number;
  /** created_at of the oldest row; null when the outbox is empty. */
  oldestCreatedAt: number | null;
  oldestAgeMs: number | null;
}

export interface EventQuery {
  stream?: string;
  /** Only events whose frame time is at or after this, ms since the epoch. */
  since?: number;
  limit?: number;
  /** Newest first by default. */
  order?: 'asc' | 'desc';
}
