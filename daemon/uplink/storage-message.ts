import { storageNoticeSchema, type OutboxMessage, type StoredEvent } from '../store/types.js';
import { severityPriority, type DeviceIdentity } from './alert-message.js';
import { storageMessageSchema } from './payloads.js';
import { uplinkTopics } from './topics.js';

/**
 * The `notices` callback for `EventStore`: a storage event (quarantine, eviction) becomes a
 * `vigil.storage/1` message on `…/storage`, queued in the same transaction as the event itself.
 * Its priority follows its severity, so a quarantine report leaves before any backlog.
 */
export function storageOutbox(device: DeviceIdentity): (event: StoredEvent) => OutboxMessage {
  const topic = uplinkTopics(device.site, device.id).storage;
  return (event) => {
    const notice = storageNoticeSchema.parse(event.payload['storage']);
    const payload = storageMessageSchema.parse({
      schema: 'vigil.storage/1',
      id: event.id,
      device: device.id,
      site: device.site,
      severity: event.severity,
      ts: new Date(event.ts).toISOString(),
      ...notice,
    });
    return { topic, payload: JSON.stringify(payload), qos: 1, priority: severityPriority[event.severity] };
  };
}
