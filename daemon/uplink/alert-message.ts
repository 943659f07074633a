import type { Severity } from '../config/schema.js';
import type { OutboxMessage, StoredEvent } from '../store/types.js';
import { storedFacts } from '../events/event-kinds.js';
import { alertSchema, type AlertPayload } from './payloads.js';
import { uplinkTopics } from './topics.js';

export interface DeviceIdentity {
  id: string;
  site: string;
}

/** Outbox priority by severity: lower leaves first, so an alert is not stuck behind a backlog of info. */
export const severityPriority: Readonly<Record<Severity, number>> = {
  critical: 0,
  alert: 1,
  warning: 2,
  info: 3,
};

/** Which message of an activity's life this is; absent for a one-off event. */
export type ActivityPhase = 'start' | 'update' | 'end';

export interface AlertOptions {
  phase?: ActivityPhase;
  /**
   * Frame time the message describes, ms since epoch, for an update or end; the stored event's
   * `ts` stays its start. Without it, the event's `ts`.
   */
  ts?: number;
  /** What is seen now, for an update; the stored event keeps the objects of its start. */
  objects?: readonly { label: string; score: number; box: readonly [number, number, number, number] }[];
  /** A paired device's epoch and id at commit (pair/pair-service.ts). */
  pair?: { epoch: number; producer: string };
}

export function alertPayload(device: DeviceIdentity, event: StoredEvent, options: AlertOptions = {}): AlertPayload {
  const p = event.payload;
  const phase = options.phase;
  // Parsing what we build keeps the wire contract and the code from drifting apart; a failure here
  // is a bug (a NaN score, a bad box) and rolls the event's transaction back loudly.
  return alertSchema.parse({
    schema: 'vigil.alert/1',
    id: event.id,
    device: device.id,
    site: device.site,
    stream: event.stream,
    rule: event.rule,
    severity: event.severity,
    ts: new Date(options.ts ?? event.ts).toISOString(),
    objects: (options.objects ?? p.objects).map((o) => ({ label: o.label, score: o.score, box: [...o.box] })),
    // `activity` repeats the phase for consumers of the first revision (payloads.ts).
    ...(phase !== undefined ? { phase, activity: phase } : {}),
    // The kind and its facts as the rule made them (with an end's additions merged in).
    ...storedFacts(event.kind, p),
    // The end fields come from the stored payload, merged in the same transaction as the message.
    ...(p['test'] === true ? { test: true } : {}),
    ...(phase === 'end' ? { ended_at: p['ended_at'], duration_s: p['duration_s'], end_reason: p['end_reason'] } : {}),
    ...(phase === 'end' && p['snapshot'] !== undefined ? { snapshot: p['snapshot'] } : {}),
    ...(options.pair ? { pair_epoch: options.pair.epoch, producer: options.pair.producer } : {}),
  });
}

/**
 * The `toOutbox` callback for `EventStore.recordEvent` and `enqueueForEvent`: alert and critical
 * events go to the alerts topic, info and warning to the events topic, all as `vigil.alert/1` (with the event's kind and facts) at
 * QoS 1. Every message of one activity has the event's priority, so an end never overtakes its start
 * across priorities and never waits behind a backlog less urgent than its start.
 */
export function alertOutbox(device: DeviceIdentity, options: AlertOptions = {}): (event: StoredEvent) => OutboxMessage {
  const topics = uplinkTopics(device.site, device.id);
  return (event) => {
    const urgent = event.severity === 'alert' || event.severity === 'critical';
    return {
      topic: urgent ? topics.alerts : topics.events,
      payload: JSON.stringify(alertPayload(device, event, options)),
      qos: 1,
      priority: severityPriority[event.severity],
    };
  };
}
