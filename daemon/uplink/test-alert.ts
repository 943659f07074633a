import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { NewEvent, StoredEvent } from '../store/types.js';
import { alertOutbox, type DeviceIdentity } from './alert-message.js';
import { ackSchema } from './payloads.js';
import { uplinkTopics } from './topics.js';
import type { MessageHandler } from './uplink.js';

/** The stream and rule a test alert is recorded under; no configured stream can clash with them. */
export const TEST_ALERT_STREAM = 'vigil-test';
export const TEST_ALERT_RULE = 'test-alert';

/** The store as test alerts use it; `EventStore` satisfies it. */
export interface TestAlertStore {
  recordEvent(event: NewEvent, toOutbox: (event: StoredEvent) => { topic: string; payload: string; qos: 0 | 1; priority: number }): StoredEvent;
  getEvent(id: string): StoredEvent | undefined;
}

/** The uplink as test alerts use it; `Uplink` satisfies it. */
export interface TestAlertUplink {
  subscribe(filter: string, handler: MessageHandler, qos?: 0 | 1): void;
  unsubscribe(filter: string): void;
}

export interface TestAlertStatus {
  event_id: string;
  /** When the event was committed to the store (ms since epoch). */
  recorded_at: number;
  /** When the broker acknowledged the alert (PUBACK); null while it waits in the outbox. */
  puback_at: number | null;
  /** When the hub's `vigil.ack/1` for it arrived; null until then. */
  hub_ack_at: number | null;
}

/** Hub acknowledgements remembered, newest kept: a test alert is awaited for seconds, not days. */
const MAX_TRACKED = 64;

/**
 * Test alerts and the hub's acknowledgement of them. A test alert is a real event (marked
 * `test: true`) that goes through the store and the outbox like any alert, so it proves the whole
 * path: SQLite commit, outbox, MQTT, broker PUBACK, and — with the hub's ack on `…/ack` — a hub
 * application that consumes the device's alerts. The PUBACK is read from the event's `uplinked_at`,
 * which the drainer sets in the same transaction that deletes the outbox row.
 *
 * The control plane asks in two steps (send, then status until done) so that no control request
 * has to stay open for the length of the wait.
 */
export class TestAlerts {
  private readonly ackTopic: string;
  private readonly hubAcks = new Map<string, number | null>();
  private readonly log: Logger;
  private readonly now: () => number;
  private started = false;

  constructor(private readonly opts: { store: TestAlertStore; uplink: TestAlertUplink; device: DeviceIdentity; log: Logger; now?: () => number }) {
    this.ackTopic = uplinkTopics(opts.device.site, opts.device.id).ack;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.opts.uplink.subscribe(this.ackTopic, (_topic, payload) => this.onAck(payload), 1);
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.opts.uplink.unsubscribe(this.ackTopic);
  }

  /** Records a test alert (the store announces its outbox row to the uplink); returns its event id. */
  send(): TestAlertStatus {
    const at = this.now();
    const event = this.opts.store.recordEvent({
      ts: at, stream: TEST_ALERT_STREAM, rule: TEST_ALERT_RULE, severity: 'alert', kind: 'test',
      payload: { objects: [], test: true },
    }, alertOutbox(this.opts.device));
    this.hubAcks.set(event.id, null);
    while (this.hubAcks.size > MAX_TRACKED) {
      const oldest = this.hubAcks.keys().next().value;
      if (oldest === undefined) break;
      this.hubAcks.delete(oldest);
    }
    this.log.info({ event_id: event.id }, 'test alert recorded');
    return this.status(event.id);
  }

  /** Where the test alert `eventId` is; throws for an id that is not a test alert sent by this daemon. */
  status(eventId: string): TestAlertStatus {
    const event = this.opts.store.getEvent(eventId);
    if (!event || event.payload['test'] !== true) throw new Error(`no test alert with id ${eventId}`);
    return { event_id: event.id, recorded_at: event.createdAt, puback_at: event.uplinkedAt, hub_ack_at: this.hubAcks.get(eventId) ?? null };
  }

  private onAck(payload: Buffer): void {
    let parsed;
    try {
      parsed = ackSchema.safeParse(JSON.parse(payload.toString('utf8')));
    } catch (err) {
      this.log.warn({ topic: this.ackTopic, err: errorMessage(err) }, 'hub ack is not JSON; ignored');
      return;
    }
    if (!parsed.success) {
      this.log.warn({ topic: this.ackTopic, err: parsed.error.issues.map((i) => `${i.path.join('.') || '(ack)'}: ${i.message}`).join('; ') },
        'hub ack does not match vigil.ack/1; ignored');
      return;
    }
    const id = parsed.data.event_id;
    // Acks for ordinary events are allowed by the contract; only test alerts are awaited here.
    if (!this.hubAcks.has(id)) {
      this.log.debug({ event_id: id }, 'hub ack for an event no test alert waits for');
      return;
    }
    if (this.hubAcks.get(id) === null) {
      this.hubAcks.set(id, this.now());
      this.log.info({ event_id: id }, 'hub acknowledged the test alert');
    }
  }
}
