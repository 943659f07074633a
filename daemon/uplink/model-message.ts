import type { OutboxMessage, StoredEvent } from '../store/types.js';
import { severityPriority, type DeviceIdentity } from './alert-message.js';
import { modelReportTopic } from './model-topics.js';
import { modelMessageSchema } from './payloads.js';

/** The `kind` (and `rule`) column of model events in the store. */
export const MODEL_EVENT_KIND = 'model';

/** What a model event carries in its stored payload, under `model`. */
export interface ModelNotice {
  model: string;
  action: 'installed' | 'activated' | 'probation_passed' | 'rolled_back' | 'refused';
  version: string;
  active?: string;
  reason?: string;
  code?: string;
  automatic?: boolean;
}

/** The `toOutbox` callback for model events: `vigil.model/1` on `…/models`, queued with the event. */
export function modelOutbox(device: DeviceIdentity): (event: StoredEvent) => OutboxMessage {
  const topic = modelReportTopic(device.site, device.id);
  return (event) => {
    const notice = event.payload['model'] as ModelNotice;
    const payload = modelMessageSchema.parse({
      schema: 'vigil.model/1', id: event.id, device: device.id, site: device.site, severity: event.severity,
      ts: new Date(event.ts).toISOString(), ...notice,
    });
    return { topic, payload: JSON.stringify(payload), qos: 1, priority: severityPriority[event.severity] };
  };
}
