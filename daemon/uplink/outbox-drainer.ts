import path from 'node:path';
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { EvidenceRefusedNotice, OutboxPriorityStats, OutboxRow, OutboxStats } from '../store/types.js';
import type { ProtocolVersion } from './client-options.js';
import { EvidenceReader } from './evidence-reader.js';
import { contentTypeOf, singleMessageProperties } from './evidence-message.js';
import { RateMeter } from './rate-meter.js';

/** What the drainer needs from the store; EventStore provides it, tests may fake it. */
export interface OutboxSource {
  peekOutbox(limit: number, exclude: Iterable<number>): OutboxRow[];
  /** Deletes the rows of a batch of PUBACKs, in one transaction. */
  ackOutbox(seqs: readonly number[]): number;
  markAttempts(seqs: readonly number[]): void;
  outboxStats(): OutboxStats;
  outboxByPriority(): OutboxPriorityStats[];
  /**
   * An evidence file that no longer matches what was recorded: mark it refused, drop its parts and
   * report it (EventStore). Absent: its parts are only held back.
   */
  refuseEvidence?(notice: Omit<EvidenceRefusedNotice, 'kind'>): boolean;
}

/**
 * Parts of evidence files in flight at once. Each is up to EVIDENCE_CHUNK_BYTES: an alert queued
 * while a clip is sending waits behind at most this many parts in the socket, whatever the window.
 */
export const EVIDENCE_PARTS_IN_FLIGHT = 4;

/** Between the header line and the bytes of a part on `…/evidence/chunk`. */
const NEWLINE = Buffer.from('\n');

export interface DrainerMetrics {
  /** Rows handed to the MQTT client. */
  published: number;
  /** Rows acknowledged by the broker and deleted. */
  acked: number;
  /** Rows handed over again after an earlier attempt (a lost connection, a refusal, a restart). */
  retries: number;
  /** Publishes the broker refused or that failed on a live connection, and store errors. */
  failures: number;
  /** Parts of evidence files handed to the MQTT client, and their bytes. */
  evidenceParts: number;
  evidenceBytes: number;
  /** Evidence files refused at sending: not what was recorded (docs/evidence-delivery.md). */
  evidenceRefused: number;
}

/** One live connection: the drainer publishes through it until it is detached. */
interface Link {
  client: MqttClient;
  window: number;
  protocolVersion: ProtocolVersion;
}

/**
 * Moves outbox rows to the broker: at most `window` unacknowledged at once, most urgent first, each
 * deleted only when its PUBACK arrives. When a connection goes, its unacknowledged rows are simply
 * forgotten here: they are still in SQLite and the next connection sends them again (at least once).
 */
export class OutboxDrainer {
  readonly metrics: DrainerMetrics = { published: 0, acked: 0, retries: 0, failures: 0, evidenceParts: 0, evidenceBytes: 0, evidenceRefused: 0 };
  /** PUBACKs per second over the last 10 s. */
  readonly ackRate = new RateMeter(10);
  private link: Link | undefined;
  private paused = false;
  private readonly inFlight = new Set<number>();
  /** The rows in flight that send a part of an evidence file. */
  private readonly partsInFlight = new Set<number>();
  private readonly files = new EvidenceReader(() => this.wake());
  /** Refused files the store could not record yet (logged once each). */
  private readonly unrecorded = new Set<string>();
  /**
   * Acknowledged rows not yet deleted: the deletes of one event-loop turn go in one transaction.
   * Each pass deletes them before it peeks, or they would be sent again.
   */
  private acked: number[] = [];
  /** Rows the broker refused on a live connection, held back until the time given, ms. */
  private readonly deferred = new Map<number, number>();
  private wakeQueued = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  /**
   * A refused row waits `retryMinMs`, doubling with each of its attempts up to `retryMaxMs`, so that
   * a message the broker will never take (not authorised, too large) costs a log line now and then
   * instead of a busy loop, while the rows behind it keep flowing.
   */
  constructor(private readonly source: OutboxSource, private readonly log: Logger,
    private readonly retryMinMs: number, private readonly retryMaxMs: number) {}

  attach(client: MqttClient, window: number, protocolVersion: ProtocolVersion): void {
    this.link = { client, window: Math.max(1, window), protocolVersion };
    this.inFlight.clear();
    this.partsInFlight.clear();
    this.deferred.clear();
    this.paused = false;
    this.wake();
  }

  detach(): void {
    // Acknowledged is acknowledged, whatever happened to the connection since.
    this.flushAcks();
    this.link = undefined;
    this.inFlight.clear();
    this.partsInFlight.clear();
    this.deferred.clear();
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.settleIdle();
  }

  /** Stops handing out new rows; acknowledgements of those in flight are still recorded. */
  pause(): void {
    this.paused = true;
    clearTimeout(this.retryTimer);
  }

  /** Resolves once nothing is in flight (or the link is gone). */
  idle(): Promise<void> {
    if (this.inFlight.size === 0 || !this.link) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Schedules a pass; many wakes in one tick (a burst of events) make one pass. */
  wake(): void {
    if (this.wakeQueued) return;
    this.wakeQueued = true;
    setImmediate(() => {
      this.wakeQueued = false;
      try {
        this.pump();
      } catch (err) {
        // Runs from the event loop: a throw here would end the daemon.
        this.metrics.failures += 1;
        this.log.error({ err: errorMessage(err) }, 'outbox drain failed; retrying');
        this.retryLater(this.retryMinMs);
      }
    });
  }

  private pump(): void {
    if (!this.flushAcks()) return;
    const link = this.link;
    if (!link || this.paused || !link.client.connected) return;
    const room = link.window - this.inFlight.size;
    // Refill in batches of at least half the window: one peek and one attempts update per batch
    // instead of per PUBACK is what lets a 100 000-row backlog drain at broker speed.
    if (room <= 0 || (room < Math.ceil(link.window / 2) && this.inFlight.size > 0)) return;
    const now = Date.now();
    for (const [seq, until] of this.deferred) if (until <= now) this.deferred.delete(seq);
    let rows: OutboxRow[];
    try {
      rows = this.source.peekOutbox(room, [...this.inFlight, ...this.deferred.keys()]);
    } catch (err) {
      this.metrics.failures += 1;
      this.log.error({ err: errorMessage(err) }, 'cannot read the outbox; retrying');
      this.retryLater(this.retryMinMs);
      return;
    }
    const ready: [OutboxRow, Buffer | undefined][] = [];
    let parts = this.partsInFlight.size;
    for (const row of rows) {
      if (!row.file) {
        ready.push([row, undefined]);
        continue;
      }
      if (parts >= EVIDENCE_PARTS_IN_FLIGHT) continue;
      const body = this.partBody(row);
      if (body === undefined) continue;
      parts += 1;
      ready.push([row, body]);
    }
    if (ready.length > 0) {
      try {
        this.source.markAttempts(ready.map(([r]) => r.seq));
      } catch (err) {
        // Only a counter: sending matters more than counting it.
        this.log.warn({ err: errorMessage(err), rows: ready.length }, 'cannot count outbox attempts');
      }
    }
    for (const [row, body] of ready) this.send(link, row, body);
    if (this.deferred.size > 0) this.retryLater(Math.min(...this.deferred.values()) - now);
  }

  /** Deletes the acknowledged rows; false (and a retry later) when the store refuses. */
  private flushAcks(): boolean {
    if (this.acked.length === 0) return true;
    const seqs = this.acked;
    try {
      this.source.ackOutbox(seqs);
      this.acked = [];
      this.metrics.acked += seqs.length;
      this.ackRate.add(seqs.length);
      return true;
    } catch (err) {
      // Kept for the next try: sending them again meanwhile would only make duplicates.
      this.metrics.failures += 1;
      this.log.error({ err: errorMessage(err), rows: seqs.length }, 'cannot delete acknowledged outbox rows; retrying');
      this.retryLater(this.retryMinMs);
      return false;
    }
  }

  /**
   * The message of a row that sends part of an evidence file, read from the file now; undefined
   * while the file is being checked (the row waits) or when it was refused (reported, its parts
   * dropped). A snapshot sent whole is the bare JPEG (payload ''); a part is its header line and
   * its bytes.
   */
  private partBody(row: OutboxRow): Buffer | undefined {
    const part = row.file;
    if (!part || row.eventId === null) return undefined;
    const check = this.files.check(part);
    if (check.state === 'pending') return undefined;
    if (check.state === 'refused') {
      this.refuse(row.eventId, row, check.refusal);
      return undefined;
    }
    try {
      const bytes = this.files.read(part);
      return row.payload === '' ? bytes : Buffer.concat([Buffer.from(row.payload), NEWLINE, bytes]);
    } catch (err) {
      this.files.forget(part);
      this.refuse(row.eventId, row, {
        file_kind: part.kind, name: path.basename(part.path), reason: 'unreadable', expected_sha256: part.sha256,
        actual_sha256: null, expected_bytes: part.bytes, actual_bytes: null,
      }, errorMessage(err));
      return undefined;
    }
  }

  private refuse(eventId: string, row: OutboxRow, refusal: Omit<EvidenceRefusedNotice, 'kind' | 'event_id'>, detail?: string): void {
    let reported = false;
    try {
      reported = this.source.refuseEvidence?.({ event_id: eventId, ...refusal }) ?? false;
    } catch (err) {
      // Each pass meets its parts again (a read-only database): logged once per file, not per pass.
      const key = `${eventId}/${refusal.file_kind}`;
      if (!this.unrecorded.has(key)) {
        this.unrecorded.add(key);
        this.metrics.failures += 1;
        this.log.error({ err: errorMessage(err), event: eventId }, 'cannot record a refused evidence file; its parts wait');
      }
      return;
    }
    this.unrecorded.delete(`${eventId}/${refusal.file_kind}`);
    if (!reported) return;
    this.metrics.evidenceRefused += 1;
    this.log.error({ event: eventId, kind: refusal.file_kind, file: row.file?.path, reason: refusal.reason, expected_sha256: refusal.expected_sha256,
      actual_sha256: refusal.actual_sha256, expected_bytes: refusal.expected_bytes, actual_bytes: refusal.actual_bytes, ...(detail ? { detail } : {}) },
    'evidence file is not what was recorded: not sent, reported to the hub');
  }

  private send(link: Link, row: OutboxRow, body?: Buffer): void {
    this.inFlight.add(row.seq);
    if (row.attempts > 0) this.metrics.retries += 1;
    const options: IClientPublishOptions = { qos: row.qos };
    if (link.protocolVersion === 5 && row.eventId !== null) {
      options.properties = { userProperties: { event_id: row.eventId } };
    }
    // Binary rows are evidence JPEGs (evidence-service.ts); MQTT 5 lets the hub see that without sniffing.
    if (link.protocolVersion === 5 && row.blob !== undefined) options.properties = { ...options.properties, contentType: 'image/jpeg' };
    const part = row.file;
    if (part && body !== undefined) {
      this.partsInFlight.add(row.seq);
      this.metrics.evidenceParts += 1;
      this.metrics.evidenceBytes += part.length;
      if (link.protocolVersion === 5 && row.eventId !== null) {
        options.properties = row.payload === ''
          ? { userProperties: singleMessageProperties(row.eventId, part), contentType: contentTypeOf(part.kind) }
          : { userProperties: { event_id: row.eventId, schema: 'vigil.evidence/1', index: String(part.index), count: String(part.count) },
            contentType: 'application/vnd.vigil.evidence-part' };
      }
    }
    this.metrics.published += 1;
    link.client.publish(row.topic, body ?? row.blob ?? row.payload, options, (err) => this.settle(link, row, err));
  }

  private settle(link: Link, row: OutboxRow, err: Error | undefined): void {
    // A late callback from a connection that has gone: its row is back in the pool already.
    if (link !== this.link) return;
    this.inFlight.delete(row.seq);
    this.partsInFlight.delete(row.seq);
    if (err) {
      this.metrics.failures += 1;
      this.deferred.set(row.seq, Date.now() + this.retryDelay(row.attempts + 1));
      this.log.warn({ err: errorMessage(err), seq: row.seq, topic: row.topic, attempts: row.attempts + 1 },
        'the broker did not accept an outbox message; it stays queued');
    } else {
      this.acked.push(row.seq);
    }
    if (this.inFlight.size === 0) this.settleIdle();
    this.wake();
  }

  private retryDelay(attempts: number): number {
    return Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(Math.max(attempts - 1, 0), 20));
  }

  private retryLater(ms: number): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.wake();
    }, Math.max(0, ms));
    this.retryTimer.unref();
  }

  private settleIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
