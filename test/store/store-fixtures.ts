import type { Severity } from '../../daemon/config/schema.js';
import type { NewEvent, OutboxMessage, StoredEvent } from '../../daemon/store/types.js';

/** Events and outbox builders shared by the store tests. */

export function newEvent(i: number, severity: Severity = 'alert', overrides: Partial<NewEvent> = {}): NewEvent {
  return {
    ts: Date.parse('2025-06-01T12:00:00.000Z') + i * 1000,
    stream: 'gate',
    rule: 'people',
    severity,
    kind: 'presence',
    // Some bulk, so that a few hundred events fill pages the way real ones do.
    payload: { objects: [{ label: 'person', score: 0.8, box: [i, 20, i + 30, 40] }], note: 'x'.repeat(300) },
    ...overrides,
  };
}

/** An outbox message per event, prioritised like alertOutbox does (critical 0 … info 3). */
export function toOutbox(e: StoredEvent): OutboxMessage {
  const priority = { critical: 0, alert: 1, warning: 2, info: 3 }[e.severity];
  return { topic: `t/${e.severity}`, payload: JSON.stringify({ id: e.id, pad: 'y'.repeat(300) }), qos: 1, priority };
}

/** The notices callback: storage events go to their own topic, urgently. */
export function noticeOutbox(e: StoredEvent): OutboxMessage {
  return { topic: 't/storage', payload: JSON.stringify({ id: e.id, storage: e.payload['storage'] }), qos: 1, priority: 0 };
}
