import type { OutboxMessage, StoredEvent } from '../store/types.js';
import { severityPriority, type DeviceIdentity } from './alert-message.js';
import { auditEntrySchema, auditMessageSchema } from './payloads.js';
import { commandTopics } from './topics.js';

/** The `toOutbox` callback for audit events: `vigil.audit/1` on `…/audit`, prioritised by severity. */
export function auditOutbox(device: DeviceIdentity): (event: StoredEvent) => OutboxMessage {
  const topic = commandTopics(device.site, device.id).audit;
  return (event) => {
    const entry = auditEntrySchema.parse(event.payload['audit']);
    const payload = auditMessageSchema.parse({
      schema: 'vigil.audit/1', id: event.id, device: device.id, site: device.site, severity: event.severity,
      ts: new Date(event.ts).toISOString(), ...entry,
    });
    return { topic, payload: JSON.stringify(payload), qos: 1, priority: severityPriority[event.severity] };
  };
}
