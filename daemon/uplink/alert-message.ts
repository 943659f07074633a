import type { Severity } from '../config/schema.js';
import type { OutboxMessage, StoredEvent } from '../store/types.js';
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

export function alertPayload(device: DeviceIdentity, event: StoredEvent): AlertPayload {
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
    ts: new Date(event.ts).toISOString(),
    objects: event.payload.objects.map((o) => ({ label: o.label, score: o.score, box: o.box })),
  });
}

/**
 * The `toOutbox` callback for `EventStore.recordEvent`: alert and critical events go to the alerts
 * topic, info and warning to the events topic, all as `vigil.alert/1` at QoS 1.
 */
export function alertOutbox(device: DeviceIdentity): (event: StoredEvent) => OutboxMessage {
  const topics = uplinkTopics(device.site, device.id);
  return (event) => {
    const urgent = event.severity === 'alert' || event.severity === 'critical';
    return {
      topic: urgent ? topics.alerts : topics.events,
      payload: JSON.stringify(alertPayload(device, event)),
      qos: 1,
      priority: severityPriority[event.severity],
    };
  };
}
