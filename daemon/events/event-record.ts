import type { ActivityEnd, ActivityUpdate } from '../analytics/ports.js';
import type { RuleHit } from '../analytics/rules/types.js';
import type { EventObject, NewEvent } from '../store/types.js';
import type { AlertOptions } from '../uplink/alert-message.js';

/**
 * Where a rule hit becomes a stored event, and an activity's update or end a change to it. The
 * event recorder (daemon/events/event-recorder.ts) stores what these build and queues the messages alert-message.ts
 * builds from the stored row; nothing between the rule and the message re-shapes the facts.
 */

/** The camera's frame size, which boxes are in. */
export interface FrameSize { readonly width: number; readonly height: number }

const round = (v: number, places: number): number => {
  const f = 10 ** places;
  return Math.round(v * f) / f;
};

/**
 * What a hub reads of each object: the score to 3 decimals and the box in whole source pixels,
 * inside the frame. A tracker's box is its filter's estimate, which can reach past an edge (-1.3)
 * for an object half out of view, and 12 decimals of a pixel tell a reader nothing.
 */
export function plainObjects(objects: readonly EventObject[], size?: FrameSize): EventObject[] {
  const w = size?.width ?? Infinity;
  const h = size?.height ?? Infinity;
  const clampTo = (v: number, max: number): number => Math.round(Math.min(Math.max(v, 0), max));
  return objects.map(({ label, score, box }) => ({
    label, score: round(score, 3), box: [clampTo(box[0], w), clampTo(box[1], h), clampTo(box[2], w), clampTo(box[3], h)],
  }));
}

const sizeOf = (hit: RuleHit): FrameSize | undefined => (hit.frame ? { width: hit.frame.sourceWidth, height: hit.frame.sourceHeight } : undefined);

/** The stored event for a hit: its kind in the column, its facts as the rule made them under `payload.facts`. */
export function eventOf(hit: RuleHit): NewEvent {
  return {
    ts: hit.ts, stream: hit.streamId, rule: hit.ruleId, severity: hit.severity, kind: hit.facts.kind,
    payload: { objects: plainObjects(hit.objects, sizeOf(hit)), facts: hit.facts },
  };
}

/** The message options for a new event: an activity's `start`, or a one-off. */
export const startOptions = (opens: boolean | undefined): AlertOptions => (opens ? { phase: 'start' } : {});

/** The message options for an update: what is seen now, at its frame time. */
export const updateOptions = (update: ActivityUpdate): AlertOptions => ({ phase: 'update', ts: update.ts, objects: plainObjects(update.objects, update.size) });

export const endOptions = (end: ActivityEnd): AlertOptions => ({ phase: 'end', ts: end.ts });

/**
 * What an end merges into its event (JSON merge patch): when and why it closed, and what the end
 * adds to the facts (seconds inside, still, the closing count), nested so the facts stay one object.
 */
export function endMerge(end: ActivityEnd): Record<string, unknown> {
  return {
    ended_at: new Date(end.ts).toISOString(), duration_s: (end.ts - end.startedTs) / 1000, end_reason: end.reason,
    ...(end.details !== undefined && Object.keys(end.details).length > 0 ? { facts: end.details } : {}),
  };
}
