import type { ActivityEnd, ActivityUpdate, EventSink } from '../analytics/ports.js';
import type { RuleHit } from '../analytics/rules/index.js';
import type { Severity } from '../config/schema.js';
import { AUDIT_EVENT_KIND, type AuditRecorder } from '../control/audit.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { DaemonParts } from '../parts.js';
import type { ToOutbox } from '../store/event-store.js';
import { alertOutbox, type AlertOptions } from '../uplink/alert-message.js';
import { auditOutbox } from '../uplink/audit-message.js';
import { MODEL_EVENT_KIND, modelOutbox, type ModelNotice } from '../uplink/model-message.js';
import { eventCapture } from '../evidence/full-snapshot.js';
import { endMerge, endOptions, eventOf, startOptions, updateOptions } from './event-record.js';

/**
 * Where a rule hit becomes a stored event and an outbox message: the analysis loops' sink, and
 * the same for the model manager's notices and the control plane's audit records. event-record.ts
 * builds the stored event from the hit; uplink/*-message.ts build the message from the stored row.
 *
 * Every rule hit goes to the store writer (store/store-writer.ts), whose thread commits it, so the
 * frame path never waits on an fsync. What follows the commit (the response tiers, the verifier)
 * runs when the writer says the event is accepted: committed, or held in memory while the disk
 * fails (degraded mode). The uplink needs no call here: the store announces every committed outbox
 * row (EventStore.onEnqueued), which wakes its drainer.
 */
export class EventRecorder implements EventSink {
  constructor(private readonly parts: DaemonParts, private readonly log: Logger) {}

  record(hit: RuleHit, opens?: boolean): string {
    const { writer, learning, tiers } = this.parts;
    if (!writer) throw new Error('event store is closed');
    // The verifier may hold the upstream alert until it has scored the event (see AlertScreen).
    const input = learning?.eventInput(hit);
    const held = learning?.screen.holds(input !== undefined, input?.frame) ?? false;
    const toOutbox = this.alertOutbox(startOptions(opens));
    // The frame is valid only during this call; the tiers get it after the commit, so copy it when a snapshot will be taken.
    const later: RuleHit = hit.frame && tiers?.evidence.wants(hit.severity) ? { ...hit, frame: { ...hit.frame, data: Buffer.from(hit.frame.data) } } : hit;
    // And the camera-size frame decoded with it, copied now while it is still the event's (snapshots only).
    // Not for an event whose snapshot the interval will skip: a rule firing on every frame must not cost a copy per frame.
    const full = later !== hit && tiers?.evidence.due(hit.streamId, hit.ruleId)
      ? eventCapture(hit, this.parts.video?.latestFullFrame(hit.streamId) ?? null, this.parts.cfg.rules) : null;
    // Recorded as standby (no message): if it commits after a takeover, the pair's catch-up sends it.
    const asStandby = this.parts.pair?.active === false;
    const event = writer.record(eventOf(hit), held ? undefined : toOutbox, (stored) => {
      if (asStandby) this.parts.pairCatchUp?.committed(stored);
      if (input) this.parts.learning?.screen.onEvent(stored.id, input.frame, input.context, held ? toOutbox : null);
      this.parts.tiers?.clips?.start(stored.id, hit, opens !== true);
      this.parts.tiers?.recorded(later, stored.id, full);
    }, { ...(opens !== undefined ? { opens } : {}) });
    return event.id;
  }

  update(update: ActivityUpdate): void {
    if (this.parts.learning?.screen.isSuppressed(update.eventId)) return;
    // Only the newest update matters: one still queued (an outage) is replaced, not added to.
    this.parts.writer?.followUp(update.eventId, this.alertOutbox(updateOptions(update)), { supersede: ['update'] });
  }

  end(end: ActivityEnd): void {
    this.parts.tiers?.clips?.end(end.eventId, end.ts);
    if (this.parts.learning?.screen.isSuppressed(end.eventId)) {
      this.parts.writer?.mergePayload(end.eventId, endMerge(end));
      return;
    }
    // Merged and queued together, so the stored event and the hub's copy cannot disagree; an
    // update still queued is obsolete once the end is.
    this.parts.writer?.followUp(end.eventId, this.alertOutbox(endOptions(end)), {
      merge: endMerge(end), supersede: ['update'], last: true,
    });
  }

  /**
   * The alert messages of an event; on a paired device stamped with the epoch at commit, and none
   * while it is the standby: the event is stored there, never published (docs/fault-tolerance.md).
   */
  private alertOutbox(options: AlertOptions): ToOutbox {
    const pair = this.parts.pair;
    const device = this.parts.cfg.device;
    if (!pair) return alertOutbox(device, options);
    return (event) => (pair.active ? alertOutbox(device, { ...options, pair: pair.stamp() })(event) : undefined);
  }

  /** A model event (installed, activated, rolled back, refused) is an event: stored, listed and sent like any other. */
  reportModel(severity: Severity, notice: ModelNotice): void {
    try {
      this.parts.store?.recordEvent({ ts: Date.now(), stream: '', rule: MODEL_EVENT_KIND, severity, kind: MODEL_EVENT_KIND,
        payload: { objects: [], model: notice } }, modelOutbox(this.parts.cfg.device));
    } catch (err) {
      this.log.error({ err: errorMessage(err), notice }, 'model event could not be stored');
    }
  }

  /** The Auditor's way to the store: a refused or accepted command is an event of kind `audit`. */
  readonly recordAudit: AuditRecorder = (entry, severity) => {
    const store = this.parts.store;
    if (!store) throw new Error('event store is closed');
    store.recordEvent({ ts: Date.now(), stream: 'control', rule: `command-${entry.outcome}`, severity, kind: AUDIT_EVENT_KIND,
      payload: { objects: [], audit: entry } }, auditOutbox(this.parts.cfg.device));
  };
}
