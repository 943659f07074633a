import type { RuleConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { EventStore } from '../store/event-store.js';
import { alertOutbox, type DeviceIdentity } from '../uplink/alert-message.js';
import type { PairStamp } from './pair-service.js';

/** At most this many events are sent again at one takeover: the window is seconds, not an outage. */
const MAX_CATCH_UP = 500;

/** Events reach the store within this long of their frame (the writer commits in tens of ms). */
const CATCH_UP_MARGIN_MS = 5_000;

/**
 * At a takeover, the standby's rule events committed since it last heard the peer: the peer may
 * have died right after its last heartbeat, so these may never have reached the hub. They are
 * queued now, stamped with the new epoch and this device as producer, so a hub sees at most one
 * heartbeat period of duplicates, across the epoch change, instead of a gap of `heartbeat_ms ×
 * misses`. Activities go out as one-off events (their start was never sent from here).
 */
export function catchUp(opts: {
  store: EventStore; device: DeviceIdentity; rules: readonly RuleConfig[]; since: number; stamp: PairStamp; log: Logger;
}): number {
  const rules = new Set(opts.rules.map((r) => r.id));
  // Frame time (ts) is close to commit time; the margin only widens the query, createdAt decides. It
  // stays small: the query takes the oldest MAX_CATCH_UP from there, and a busy device's minute of
  // events before `since` would fill them all and leave none of the window itself.
  const candidates = opts.store.listEvents({ since: opts.since - CATCH_UP_MARGIN_MS, order: 'asc', limit: MAX_CATCH_UP })
    .filter((e) => e.createdAt >= opts.since && e.uplinkedAt === null && (rules.has(e.rule) || e.rule === 'motion'));
  const toOutbox = alertOutbox(opts.device, { pair: opts.stamp });
  let queued = 0;
  for (const event of candidates) {
    try {
      if (opts.store.enqueueForEvent(event.id, toOutbox)) queued += 1;
    } catch (err) {
      opts.log.warn({ event: event.id, err: errorMessage(err) }, 'pair catch-up: event not queued');
    }
  }
  return queued;
}
