import type { RuleKind, Severity } from '../../config/schema.js';
import type { ActivityEndFacts, RuleFacts } from '../../events/event-kinds.js';
import type { Detection } from '../../inference/types.js';
import type { TrackedObject } from '../tracker/index.js';
import type { Frame } from '../../video/frame.js';
import type { PxReference } from './geometry.js';

/** What a rule reports; the event recorder stores it as one event. */
export interface RuleHit {
  ruleId: string;
  streamId: string;
  severity: Severity;
  /** Wall-clock time of the frame that completed the match, ms since epoch. */
  ts: number;
  objects: Detection[];
  /**
   * The kind and what happened, typed per kind (events/event-kinds.ts): a crossing's direction and
   * track, a count and its threshold, a dwell's seconds. Stored and sent to the hub as they are.
   */
  facts: RuleFacts;
  /**
   * Set by the analysis loop, not by rules: when the frame's inference finished (wall clock, ms,
   * sub-ms; util/clock.ts), which the response tiers are measured from, and the analysis frame
   * itself, valid only during the sink's `record` call (copy it to keep it).
   */
  inferredAt?: number;
  frame?: Frame;
}

/** Why an activity closed. */
export type EndReason = 'exit' | 'moved' | 'track_lost' | 'cleared' | 'stream_ended'
  // Live management (daemon/manage): the rule or stream the activity belonged to was changed or removed.
  | 'rule_changed' | 'rule_removed' | 'stream_changed' | 'stream_disabled' | 'stream_removed';

/**
 * A rule's answer for one frame. `start` opens an activity that keeps one event id until its
 * `end` (same key); `instant` is an activity that starts and ends in one frame (a line crossing,
 * a periodic count). Keys are unique within one rule.
 */
export type RuleOutput =
  | { type: 'start'; key: string; hit: RuleHit }
  | { type: 'end'; key: string; ts: number; reason: EndReason; details?: ActivityEndFacts }
  | { type: 'instant'; hit: RuleHit };

/** One analysed frame as rules see it; positions in source pixels. */
export interface RuleInput {
  ts: number;
  detections: readonly Detection[];
  /** Confirmed tracks matched in this frame. */
  tracks: readonly TrackedObject[];
  /** Confirmed tracks missed in this frame, still kept by the tracker with their ids. */
  lost: readonly TrackedObject[];
  /** Ids of tracks gone for good in this frame. */
  removed: readonly number[];
  sourceWidth: number;
  sourceHeight: number;
  /** The size `px` geometry was drawn for (the stream's first size); absent: this frame's size. */
  pxReference?: PxReference;
}

export interface Rule {
  readonly id: string;
  readonly kind: RuleKind;
  evaluate(input: RuleInput): RuleOutput[];
}

export const asObject = (t: TrackedObject): Detection => ({ classId: t.classId, label: t.label, score: t.score, box: t.box });
