import type { RuleConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventStore } from '../store/event-store.js';
import type { StoredEvent } from '../store/types.js';
import { alertOutbox, type DeviceIdentity } from '../uplink/alert-message.js';
import type { PairStamp } from './pair-service.js';

/** At most this many events are sent again at one takeover: the window is seconds, not an outage. */
const MAX_CATCH_UP = 500;

/** Events reach the store within this long of their frame (the writer commits in tens of ms). */
const CATCH_UP_MARGIN_MS = 5_000;

interface Window {
  since: number;
  stamp: PairStamp;
  queued: Set<string>;
}

export interface PairCatchUpOptions {
  store: EventStore;
  device: DeviceIdentity;
  /** The running rules (live management replaces them), read at each takeover. */
  rules: () => readonly Pick<RuleConfig, 'id'>[];
  log: Logger;
}

/**
 * At a takeover, the standby's rule events committed since it last heard the peer: the peer may
 * have died right after its last heartbeat, so these may never have reached the hub. They are
 * queued, stamped with the new epoch and this device as producer, so a hub sees at most one
 * heartbeat period of duplicates, across the epoch change, instead of a gap of `heartbeat_ms ×
 * misses`. Activities go out as one-off events (their start was never sent from here).
 *
 * Two passes, because an event is stored by the writer thread (store/store-writer.ts) some tens
 * of ms after it was recorded, longer while the disk fails: `takeover` queues what is committed at
 * the change of role, and `committed` what was recorded as standby (without a message) and
 * commits after it. Without the second pass the frame or two in the writer's queue at the
 * takeover were never sent.
 */
export class PairCatchUp {
  private window: Window | null = null;

  constructor(private readonly opts: PairCatchUpOptions) {}

  /** The first pass, at the change of role; returns how many events were queued. */
  takeover(since: number, stamp: PairStamp): number {
    const { store, log } = this.opts;
    const window: Window = { since, stamp, queued: new Set() };
    this.window = window;
    // Frame time (ts) is close to commit time; the margin only widens the query, createdAt decides. It
    // stays small: the query takes the oldest MAX_CATCH_UP from there, and a busy device's minute of
    // events before `since` would fill them all and leave none of the window itself.
    const candidates = store.listEvents({ since: since - CATCH_UP_MARGIN_MS, order: 'asc', limit: MAX_CATCH_UP })
      .filter((e) => this.wanted(e, window));
    for (const event of candidates) this.enqueue(event, window);
    // Which window was searched and what it held: a hub that reports a gap after a takeover is
    // answered from this line (since, the first and last frame time queued).
    log.info({ since: new Date(since).toISOString(), epoch: stamp.epoch, queued: window.queued.size,
      first: candidates[0] ? new Date(candidates[0].ts).toISOString() : null,
      last: candidates.at(-1) ? new Date(candidates.at(-1)!.ts).toISOString() : null }, 'pair catch-up');
    return window.queued.size;
  }

  /** The second pass: an event recorded while standby, committed now that this device may be active. */
  committed(event: StoredEvent): void {
    const window = this.window;
    if (window === null || !this.wanted(event, window)) return;
    if (this.enqueue(event, window)) {
      this.opts.log.info({ event: event.id, ts: new Date(event.ts).toISOString(), epoch: window.stamp.epoch }, 'pair catch-up: event committed after the takeover queued');
    }
  }

  /** A step-down ends the window: what the standby records from now on is held again. */
  standby(): void {
    this.window = null;
  }

  private wanted(e: StoredEvent, window: Window): boolean {
    if (e.createdAt < window.since || e.uplinkedAt !== null || window.queued.has(e.id)) return false;
    return e.rule === 'motion' || this.opts.rules().some((r) => r.id === e.rule);
  }

  private enqueue(event: StoredEvent, window: Window): boolean {
    try {
      // Recorded before the takeover, so never queued: enqueueForEvent adds its one message.
      if (!this.opts.store.enqueueForEvent(event.id, alertOutbox(this.opts.device, { pair: window.stamp }))) return false;
      window.queued.add(event.id);
      return true;
    } catch (err) {
      this.opts.log.warn({ event: event.id, err: errorMessage(err) }, 'pair catch-up: event not queued');
      return false;
    }
  }
}
