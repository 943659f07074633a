import { Worker } from 'node:worker_threads';
import { v7 as uuidv7 } from 'uuid';
import type { Severity } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { Backoff } from '../util/backoff.js';
import type { DeviceIdentity } from '../uplink/alert-message.js';
import { storageFaultMessage, type StorageFaultNotice } from '../uplink/storage-message.js';
import type { EventStore, ToOutbox } from './event-store.js';
import type { BatchReply, FromWorker, ToWorker, WireFault, WireMessage, WorkerInit, WriteOp } from './store-writer-protocol.js';
import type { LostBySeverity, NewEvent, OutboxMessage, StorageHealth, StoredEvent } from './types.js';
import { classifyWriteFailure, faultReason } from './write-failure.js';

/** The uplink as degraded mode needs it: a direct QoS 1 publish and whether one can be tried. */
export interface DirectPublisher {
  readonly isConnected: boolean;
  publishHeld(topic: string, payload: string, eventId: string | null): Promise<void>;
}

export interface StoreWriterOptions {
  /** The database file the store opened (and migrated). */
  file: string;
  store: EventStore;
  device: DeviceIdentity;
  log: Logger;
  /** The uplink, asked each time: it starts after the store. */
  publisher: () => DirectPublisher | null;
  /** Held queue bound: events (with their follow-ups) and bytes of their messages. */
  maxHeld?: number;
  maxHeldBytes?: number;
  /** Ops per commit at most (group commit). */
  maxBatch?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  checkpointEveryMs?: number;
  /** Called when the state changes (ok ↔ degraded), e.g. to publish the retained state again. */
  onStateChange?: (health: StorageHealth) => void;
}

/** What the caller is told once an event is either committed (durable) or held in memory (not). */
export type Accepted = (event: StoredEvent, durable: boolean) => void;

interface Queued {
  op: WriteOp;
  eventId: string;
  severity: Severity;
  isRecord: boolean;
  bytes: number;
  /** What degraded mode publishes directly; null: nothing to send (a merge, a held alert). */
  message: OutboxMessage | null;
  direct: 'none' | 'sending' | 'acked';
  ackedAt: number | null;
  /** Called once, at the commit or when the op is first held. */
  accepted: ((durable: boolean) => void) | null;
}

const SEVERITY_ORDER: readonly Severity[] = ['info', 'warning', 'alert', 'critical'];
const OPEN_EVENT_CACHE = 10_000;

/**
 * The event sink's way to the database: new events and their follow-ups go, in order, to a worker
 * thread with its own connection (store-writer-worker.ts), which commits them with fsync; the
 * frame path only builds the rows. An event is accepted when its commit returns, as with
 * `EventStore.recordEvent`; its id (uuid v7) is made here, so `record` still returns it at once.
 *
 * When the disk fails (read-only, full, I/O errors; write-failure.ts), the store is degraded:
 * the uncommitted events stay in a bounded in-memory queue, their messages are published directly
 * with `stored: false`, an alarm goes to the hub directly, and the commit is retried with backoff.
 * When it succeeds the held events are written (those the broker already acknowledged without an
 * outbox row, so the hub gets no second copy). What the bound gives up is counted by severity.
 */
export class StoreWriter {
  private readonly worker: Worker;
  private readonly log: Logger;
  private readonly queue: Queued[] = [];
  private inFlight = 0;
  private batchId = 0;
  private heldBytes = 0;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | null = null;
  private closed = false;
  private workerDead = false;
  /** The main connection's own setting, restored at close. */
  private readonly autocheckpoint: number;
  private readonly openEvents = new Map<string, StoredEvent>();
  private readonly alarms: { topic: string; payload: string; id: string; sending: boolean }[] = [];
  private fault: (WireFault & { reason: string; since: number; fault: string }) | null = null;
  private lastLostReported = 0;
  private readonly totals = { lost: { info: 0, warning: 0, alert: 0, critical: 0 }, unstored: 0, written: 0, faults: 0, failed: 0 };
  private lastCommitMs: number | null = null;
  private readonly maxHeld: number;
  private readonly maxHeldBytes: number;
  private readonly maxBatch: number;

  constructor(private readonly opts: StoreWriterOptions) {
    this.log = opts.log;
    this.maxHeld = opts.maxHeld ?? 10_000;
    this.maxHeldBytes = opts.maxHeldBytes ?? 64 * 1024 * 1024;
    this.maxBatch = opts.maxBatch ?? 256;
    // At most 10 s between tries: held messages and alarms also go out on these ticks.
    this.backoff = new Backoff({ minMs: opts.retryMinMs ?? 1000, maxMs: opts.retryMaxMs ?? 10_000, healthyAfterMs: 0 });
    // Checkpoints fsync the database file: the worker runs them; this connection's relaxed writes
    // (acknowledgements, timings) no longer trigger one on the frame path.
    this.autocheckpoint = Number(opts.store.db.pragma('wal_autocheckpoint', { simple: true }));
    opts.store.db.pragma('wal_autocheckpoint = 0');
    // The same WAL bound as the main connection's (journal_size_limit is set to it at open).
    const walLimitBytes = Number(opts.store.db.pragma('journal_size_limit', { simple: true }));
    const init: WorkerInit = { file: opts.file, busyTimeoutMs: 5000, checkpointEveryMs: opts.checkpointEveryMs ?? 5000, walLimitBytes };
    this.worker = new Worker(new URL('./store-writer-worker.js', import.meta.url), { workerData: init });
    this.worker.on('message', (m: FromWorker) => this.guard(() => this.onMessage(m)));
    this.worker.on('error', (err) => this.guard(() => this.onWorkerError(err)));
    this.worker.unref();
  }

  get degraded(): boolean {
    return this.fault !== null;
  }

  /**
   * Hands a new event to the writer and returns it with its id. `toOutbox` is called here, on this
   * thread, so that a message that does not validate fails the caller as before. `accepted` runs
   * once: at the commit (durable) or, when the store is degraded, as soon as the event is held.
   */
  record(event: NewEvent, toOutbox: ToOutbox | undefined, accepted: Accepted, opts: { opens?: boolean } = {}): StoredEvent {
    if (this.closed) throw new Error('the store writer is closed');
    const stored: StoredEvent = { ...event, id: uuidv7(), createdAt: Date.now(), uplinkedAt: null };
    const message = toOutbox?.(stored) ?? null;
    const payload = JSON.stringify(stored.payload);
    if (opts.opens) this.remember(stored);
    this.push({
      op: { op: 'record', event: { id: stored.id, ts: stored.ts, stream: stored.stream, rule: stored.rule, severity: stored.severity,
        kind: stored.kind, payload, createdAt: stored.createdAt }, message: message && wire(message), uplinkedAt: null },
      eventId: stored.id, severity: stored.severity, isRecord: true, bytes: payload.length + (message?.payload.length ?? 0),
      message, direct: 'none', ackedAt: null, accepted: (durable) => accepted(stored, durable),
    });
    return stored;
  }

  /**
   * An activity's update or end, as `EventStore.enqueueForEvent`: the message is built from the
   * event as it is now (committed row, else the one still queued here) with `merge` applied. False
   * when the event is unknown (evicted, or never recorded through this writer).
   */
  followUp(eventId: string, toOutbox: ToOutbox, options: { merge?: Record<string, unknown>; supersede?: readonly string[]; last?: boolean },
    accepted?: () => void): boolean {
    const base = this.current(eventId);
    if (!base) return false;
    const event: StoredEvent = options.merge ? { ...base, payload: mergePatch(base.payload, options.merge) as StoredEvent['payload'] } : base;
    if (options.last) this.openEvents.delete(eventId);
    else if (options.merge) this.openEvents.set(eventId, event);
    const message = toOutbox(event) ?? null;
    const merge = options.merge !== undefined ? JSON.stringify(options.merge) : null;
    this.push({
      op: { op: 'follow', eventId, merge, supersede: JSON.stringify(options.supersede ?? []), message: message && wire(message) },
      eventId, severity: event.severity, isRecord: false, bytes: (merge?.length ?? 0) + (message?.payload.length ?? 0),
      message, direct: 'none', ackedAt: null, accepted: (durable) => { if (durable) accepted?.(); },
    });
    return true;
  }

  /** Fields merged into a stored event's payload (an end that is not sent), in order with the rest. */
  mergePayload(eventId: string, fields: Record<string, unknown>): void {
    const base = this.current(eventId);
    this.openEvents.delete(eventId);
    const json = JSON.stringify(fields);
    this.push({ op: { op: 'merge', eventId, fields: json }, eventId, severity: base?.severity ?? 'info', isRecord: false,
      bytes: json.length, message: null, direct: 'none', ackedAt: null, accepted: null });
  }

  /** Whether events are being stored, and since when not: what the retained state says, read every second. */
  condition(): Pick<StorageHealth, 'state' | 'reason' | 'since'> {
    const f = this.fault;
    return { state: f ? 'degraded' : 'ok', reason: f?.reason ?? null, since: f?.since ?? null };
  }

  health(): StorageHealth {
    const f = this.fault;
    return {
      state: f ? 'degraded' : 'ok',
      reason: f?.reason ?? null,
      code: f?.code ?? null,
      since: f?.since ?? null,
      held: f ? this.queue.filter((q) => q.isRecord).length : 0,
      heldBytes: f ? this.heldBytes : 0,
      lost: { ...this.totals.lost },
      unstored: this.totals.unstored,
      written: this.totals.written,
      faults: this.totals.faults,
      lastCommitMs: this.lastCommitMs,
    };
  }

  /**
   * Writes what is queued (up to `deadlineMs`), then stops the worker. Events still held then (the
   * disk never came back) are reported lost in the journal, by severity.
   */
  close(deadlineMs = 3000): Promise<void> {
    this.closing ??= this.shutdown(deadlineMs);
    return this.closing;
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    const until = Date.now() + deadlineMs;
    if (this.fault) this.retry();
    while ((this.queue.length > 0) && Date.now() < until && !this.closed) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.queue.length > 0) {
      const lost = { info: 0, warning: 0, alert: 0, critical: 0 };
      for (const q of this.queue) if (q.isRecord && q.direct !== 'acked') lost[q.severity] += 1;
      this.log.error({ held: this.queue.length, lost, delivered_unstored: this.queue.filter((q) => q.isRecord && q.direct === 'acked').length },
        'stopping with events the database never took: they are lost on this device');
    }
    const done = new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      setTimeout(resolve, 2000).unref();
    });
    this.worker.ref();
    this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    await done;
    // The main connection checkpoints by itself again, at the bound open.ts gave it.
    try {
      if (this.opts.store.db.open) this.opts.store.db.pragma(`wal_autocheckpoint = ${this.autocheckpoint}`);
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'cannot restore wal_autocheckpoint');
    }
  }

  // ---- internals ----

  private current(eventId: string): StoredEvent | undefined {
    let committed: StoredEvent | undefined;
    try {
      committed = this.opts.store.getEvent(eventId);
    } catch (err) {
      this.log.debug({ err: errorMessage(err), event: eventId }, 'cannot read the event back; using the queued copy');
    }
    const queued = this.openEvents.get(eventId);
    if (!committed) return queued;
    // Merges still queued here (not committed yet) apply on top of the row.
    return queued ? { ...committed, payload: mergePatch(committed.payload, queued.payload) as StoredEvent['payload'] } : committed;
  }

  private remember(event: StoredEvent): void {
    this.openEvents.set(event.id, event);
    if (this.openEvents.size > OPEN_EVENT_CACHE) {
      const oldest = this.openEvents.keys().next();
      if (oldest.done !== true) this.openEvents.delete(oldest.value);
    }
  }

  private push(q: Queued): void {
    this.queue.push(q);
    this.heldBytes += q.bytes;
    if (this.fault) {
      this.hold(q);
      this.bound();
      this.sendHeld();
      return;
    }
    this.bound();
    this.pump();
  }

  /** A held op is accepted (not durably): actions fire, and its message goes out directly. */
  private hold(q: Queued): void {
    const a = q.accepted;
    q.accepted = null;
    if (a) this.safely('accepted listener', () => a(false));
  }

  private pump(): void {
    if (this.inFlight > 0 || this.queue.length === 0 || this.workerDead) return;
    if (this.fault && this.retryTimer !== undefined) return;
    const batch = this.queue.slice(0, this.maxBatch);
    this.inFlight = batch.length;
    // Referenced while a commit is out, so that a process ending on its own still sees it land.
    this.worker.ref();
    const ops = batch.map((q) => toWire(q));
    this.worker.postMessage({ type: 'batch', id: ++this.batchId, ops } satisfies ToWorker);
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'batch') this.onBatch(m);
    else if (m.type === 'checkpoint-failed') this.log.warn({ code: m.fault.code, err: m.fault.message }, 'WAL checkpoint failed');
  }

  private onBatch(r: BatchReply): void {
    this.inFlight = 0;
    this.worker.unref();
    this.lastCommitMs = r.commitMs;
    const done = this.queue.splice(0, r.done);
    const refused = new Set(r.errors.map((e) => e.index));
    let inserted = 0;
    let queuedRows = false;
    done.forEach((q, i) => {
      this.heldBytes -= q.bytes;
      if (refused.has(i)) {
        this.totals.failed += 1;
        if (q.isRecord && q.direct !== 'acked') this.totals.lost[q.severity] += 1;
        this.log.error({ event: q.eventId, err: r.errors.find((e) => e.index === i)?.message }, 'event could not be stored');
        return;
      }
      if (q.isRecord) inserted += 1;
      if (q.message) queuedRows = true;
      // A record whose listener already ran was held: it is written now, late.
      if (q.isRecord && q.accepted === null) this.totals.written += 1;
      const a = q.accepted;
      q.accepted = null;
      if (a) this.safely('accepted listener', () => a(true));
    });
    // The worker's connection committed the rows; the store tells its listeners (the uplink) on this thread.
    if (queuedRows) this.opts.store.announceEnqueued();
    if (inserted > 0) this.safely('budget check', () => this.opts.store.noteInserted(inserted));
    if (r.fault) {
      this.onFault(r.fault);
      return;
    }
    // Recovered once every held event is written: until then new ones are still held (and sent
    // directly), so that they stay behind the held ones and the alarm's `written` is complete.
    if (this.fault && done.length > 0 && !this.queue.some((q) => q.isRecord && q.accepted === null)) this.recovered();
    this.pump();
  }

  private onFault(wf: WireFault): void {
    const c = classifyWriteFailure({ code: wf.code, message: wf.message }) ?? { fault: 'io' as const, code: wf.code, message: wf.message };
    // A full disk first makes room by policy (the budget's eviction, on the main connection, relaxed).
    if (c.fault === 'full' && this.opts.store.makeRoom()) {
      this.log.warn({ code: c.code }, 'the disk is full: evicted events by policy; writing again');
      this.pump();
      return;
    }
    const first = this.fault === null;
    if (first) {
      this.fault = { ...wf, reason: faultReason(c), since: Date.now(), fault: c.fault };
      this.totals.faults += 1;
      this.log.error({ code: c.code, err: c.message, held: this.queue.length },
        'storage degraded: the database takes no writes; events are held in memory and sent directly');
      for (const q of this.queue) this.hold(q);
      this.alarm('degraded');
      this.notifyState();
    }
    this.sendHeld();
    const delay = this.backoff.failed();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.retry(), delay);
    this.retryTimer.unref();
  }

  private retry(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.sendHeld();
    this.sendAlarms();
    // Lost counts grew while degraded: the hub hears of it, at most once per retry.
    const lost = lostTotal(this.totals.lost) + this.totals.unstored;
    if (this.fault && lost !== this.lastLostReported) this.alarm('degraded');
    // With nothing held there is nothing to try: the next event's commit says whether the disk is back.
    this.pump();
    if (this.workerDead && !this.closed) {
      // No commit will come back to schedule the next try: held messages and alarms still go out.
      this.retryTimer = setTimeout(() => this.retry(), this.backoff.failed());
      this.retryTimer.unref();
    }
  }

  private recovered(): void {
    const f = this.fault;
    if (!f) return;
    this.fault = null;
    this.backoff.succeeded();
    const degradedS = (Date.now() - f.since) / 1000;
    this.log.warn({ degraded_s: degradedS, written: this.totals.written, lost: this.totals.lost, unstored: this.totals.unstored },
      'storage recovered: the database takes writes again; held events are being written');
    this.alarm('recovered', degradedS);
    this.notifyState();
  }

  private notifyState(): void {
    this.safely('state listener', () => this.opts.onStateChange?.(this.health()));
  }

  /** Keeps the queue within its bound: the least severe, oldest event goes first, counted. */
  private bound(): void {
    while (this.queue.length > this.maxHeld || this.heldBytes > this.maxHeldBytes) {
      const start = this.inFlight;
      let victim = -1;
      for (const sev of SEVERITY_ORDER) {
        victim = this.queue.findIndex((q, i) => i >= start && q.isRecord && q.severity === sev);
        if (victim >= 0) break;
      }
      if (victim < 0) victim = this.queue.length > start ? start : -1;
      if (victim < 0) return;
      const v = this.queue[victim]!;
      const gone = this.queue.filter((q, i) => i >= start && (q === v || (v.isRecord && q.eventId === v.eventId)));
      for (const q of gone) {
        this.queue.splice(this.queue.indexOf(q), 1);
        this.heldBytes -= q.bytes;
      }
      if (v.isRecord) {
        if (v.direct === 'acked') this.totals.unstored += 1;
        else this.totals.lost[v.severity] += 1;
      }
      this.openEvents.delete(v.eventId);
      const n = lostTotal(this.totals.lost) + this.totals.unstored;
      if ((n & (n - 1)) === 0) {
        this.log.error({ held: this.queue.length, lost: this.totals.lost, unstored: this.totals.unstored, max_held: this.maxHeld },
          'held-event queue full: gave up the least severe, oldest event');
      }
    }
  }

  /** Degraded: every held message not yet acknowledged goes to the broker directly, marked not stored. */
  private sendHeld(): void {
    if (!this.fault) return;
    const link = this.opts.publisher();
    if (!link?.isConnected) return;
    for (const q of this.queue) {
      if (q.message === null || q.direct !== 'none') continue;
      q.direct = 'sending';
      link.publishHeld(q.message.topic, unstored(q.message.payload), q.eventId).then(() => {
        q.direct = 'acked';
        q.ackedAt = Date.now();
      }, (err: unknown) => {
        q.direct = 'none';
        this.log.debug({ err: errorMessage(err), event: q.eventId }, 'direct publish failed; retried');
      });
    }
  }

  private alarm(kind: 'degraded' | 'recovered', degradedS = 0): void {
    const f = this.fault ?? { reason: 'recovered', code: '', since: Date.now() };
    this.lastLostReported = lostTotal(this.totals.lost) + this.totals.unstored;
    const base = { reason: f.reason, code: f.code, since: f.since, held: this.queue.length, lost: { ...this.totals.lost }, unstored: this.totals.unstored };
    const notice: StorageFaultNotice = kind === 'degraded' ? { kind, ...base }
      : { kind, ...base, ...this.lastFault, degraded_s: degradedS, written: this.totals.written };
    if (kind === 'degraded') this.lastFault = { reason: f.reason, code: f.code, since: f.since };
    try {
      this.alarms.push({ ...storageFaultMessage(this.opts.device, notice), sending: false });
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'cannot build the storage alarm');
    }
    this.sendAlarms();
  }

  private lastFault: { reason: string; code: string; since: number } = { reason: 'recovered', code: '', since: 0 };

  /** Alarms go directly at QoS 1 and are retried (each retry, and each new alarm) until acknowledged. */
  private sendAlarms(): void {
    const link = this.opts.publisher();
    if (!link?.isConnected) {
      if (this.alarms.length > 0 && !this.fault && this.retryTimer === undefined) {
        this.retryTimer = setTimeout(() => this.retry(), 1000);
        this.retryTimer.unref();
      }
      return;
    }
    for (const a of this.alarms) {
      if (a.sending) continue;
      a.sending = true;
      link.publishHeld(a.topic, a.payload, a.id).then(() => {
        this.alarms.splice(this.alarms.indexOf(a), 1);
      }, (err: unknown) => {
        a.sending = false;
        this.log.warn({ err: errorMessage(err) }, 'storage alarm not delivered yet; retried');
      });
    }
  }

  private onWorkerError(err: Error): void {
    // The thread is gone; without it nothing can be stored: degraded, with the reason.
    // Events keep being held and sent directly; only a restart brings the thread back.
    this.log.error({ err: errorMessage(err) }, 'the store writer thread failed');
    this.inFlight = 0;
    this.workerDead = true;
    if (!this.fault) {
      this.fault = { code: 'WORKER', message: errorMessage(err), reason: `the store writer failed: ${errorMessage(err)}`, since: Date.now(), fault: 'io' };
      this.totals.faults += 1;
      for (const q of this.queue) this.hold(q);
      this.alarm('degraded');
      this.notifyState();
    }
    this.retry();
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.warn({ err: errorMessage(err), what }, 'store writer listener failed');
    }
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'store writer: handler failed');
    }
  }
}

function wire(m: OutboxMessage): WireMessage {
  return { topic: m.topic, payload: m.payload, qos: m.qos, priority: m.priority, ...(m.blob ? { blob: m.blob } : {}) };
}

/** The op as the worker gets it now: a message the broker already acknowledged directly gets no outbox row. */
function toWire(q: Queued): WriteOp {
  if (q.direct !== 'acked') return q.op;
  if (q.op.op === 'record') return { ...q.op, message: null, uplinkedAt: q.ackedAt };
  if (q.op.op === 'follow') return { ...q.op, message: null };
  return q.op;
}

/** `stored: false` added to a `vigil.alert/1` message; other payloads are sent as they are. */
function unstored(payload: string): string {
  try {
    const v: unknown = JSON.parse(payload);
    if (v !== null && typeof v === 'object' && (v as { schema?: unknown }).schema === 'vigil.alert/1') return JSON.stringify({ ...v, stored: false });
  } catch {
    // Not JSON: sent as it is.
  }
  return payload;
}

function lostTotal(l: LostBySeverity): number {
  return l.info + l.warning + l.alert + l.critical;
}

/** JSON merge patch (RFC 7396), as SQLite's json_patch applies it in the worker: objects merge, null deletes. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
