import { v7 as uuidv7 } from 'uuid';
import { storageNoticeSchema, type LostBySeverity, type OutboxMessage, type StorageHealth, type StoredEvent } from '../store/types.js';
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

export type StorageFaultNotice =
  | { kind: 'degraded'; reason: string; code: string; since: number; held: number; lost: LostBySeverity; unstored: number }
  | { kind: 'recovered'; reason: string; code: string; since: number; held: number; lost: LostBySeverity; unstored: number;
    degraded_s: number; written: number };

/**
 * A degraded-mode alarm (`degraded` / `recovered`) as `vigil.storage/1` on `…/storage`: built for a
 * direct publish, since the outbox it would normally go through is what cannot be written.
 * `degraded` is critical (alerts are not durably stored), `recovered` is info.
 */
export function storageFaultMessage(device: DeviceIdentity, notice: StorageFaultNotice, now = Date.now()): { topic: string; payload: string; id: string } {
  const id = uuidv7();
  const payload = storageMessageSchema.parse({
    schema: 'vigil.storage/1',
    id,
    device: device.id,
    site: device.site,
    severity: notice.kind === 'degraded' ? 'critical' : 'info',
    ts: new Date(now).toISOString(),
    ...notice,
    since: new Date(notice.since).toISOString(),
    lost: { ...notice.lost },
  });
  return { topic: uplinkTopics(device.site, device.id).storage, payload: JSON.stringify(payload), id };
}

/** The retained state's `storage` field from the writer's health. */
export function storageState(h: Pick<StorageHealth, 'state' | 'reason' | 'since'>): { state: 'ok' | 'degraded'; reason?: string; since?: string } {
  return {
    state: h.state,
    ...(h.reason !== null ? { reason: h.reason } : {}),
    ...(h.since !== null ? { since: new Date(h.since).toISOString() } : {}),
  };
}
