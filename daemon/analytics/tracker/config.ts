import { z } from 'zod';

/**
 * Tracker settings, one definition: the config file validates against it and the tracker's type
 * is inferred from it. The defaults are explained in README.md ("Tracking") and were chosen on
 * TUD-Campus with its public detections, then checked for sense, not fitted frame by frame.
 */
export const trackerConfigSchema = z.strictObject({
  /** Detections at or above this score lead: they are matched first and may start tracks. */
  high_score: z.number().min(0).max(1).default(0.6),
  /** Detections between this and `high_score` only keep existing tracks alive (ByteTrack's second stage). */
  low_score: z.number().min(0).max(1).default(0.1),
  /** A detection must score at least this to start a new track. */
  new_track_score: z.number().min(0).max(1).default(0.7),
  /** Least IoU between a predicted track box and a high-score detection for a match. */
  match_iou: z.number().min(0).max(1).default(0.3),
  /** Least IoU for a low-score detection: stricter, since low scores are often clutter. */
  low_match_iou: z.number().min(0).max(1).default(0.5),
  /** Least IoU for a tentative track to take its next detection. */
  tentative_match_iou: z.number().min(0).max(1).default(0.3),
  /** Consecutive frames with a detection before a tentative track is confirmed and gets its id. */
  min_hits: z.number().int().min(1).max(100).default(2),
  /** Confirm the first frame's tracks at once: there is no earlier frame to confirm them against. */
  confirm_at_start: z.boolean().default(true),
  /** A confirmed track not seen for longer than this is removed; until then it can be re-found with its id. */
  max_lost_ms: z.number().int().min(0).max(600_000).default(2000),
  /**
   * A lost track is also removed once unseen for longer than this many times the span it was seen
   * for (first to latest detection), so a track born of a few frames' clutter cannot be re-found
   * by the next false box in the same place for `max_lost_ms`. 0 turns it off.
   */
  lost_seen_ratio: z.number().min(0).max(100).default(0),
  /**
   * Match the tracks seen in the previous frame first and lost tracks only against the high-score
   * detections left over, instead of both in one assignment: a lost track's prediction has drifted
   * and should not take a box from a track that is still being followed. On by leave-one-sequence-out
   * over eleven MOT15 sequences (docs/tracking.md, "Where the false positives and identity switches
   * come from"): a third fewer identity switches.
   */
  lost_after_tracked: z.boolean().default(true),
  /**
   * OC-SORT's observation-centric re-update: a track re-found after missed frames replays them
   * with boxes interpolated between its last and its new observation, so its velocity is the one
   * it really had, not the filter's drift.
   */
  re_update: z.boolean().default(false),
  /**
   * OC-SORT's observation-centric recovery: tracks still unmatched after both stages get a last
   * try against the leftover high-score detections by the IoU of their last observed box (not the
   * prediction). 0 turns it off.
   */
  recovery_iou: z.number().min(0).max(1).default(0),
  /**
   * OC-SORT's observation-centric momentum: weight of the agreement between a track's observed
   * direction of motion and the direction to a detection, added to IoU in the first stage. 0 turns it off.
   */
  momentum_weight: z.number().min(0).max(1).default(0.2),
  /** Frames back over which a track's direction of motion is observed (OC-SORT's Δt). */
  momentum_frames: z.number().int().min(1).max(8).default(3),
  /**
   * The appearance cue (OSNet x0.25, Deep OC-SORT style, docs/tracking.md "Appearance"): crops are
   * embedded only where motion cannot decide, and only when the caller gives the tracker the frame
   * (`updateSeeing`); `update` never looks.
   */
  appearance: z.strictObject({
    enabled: z.boolean().default(false),
    /** Weight of the appearance term in a pair's cost (1 − IoU), for pairs whose both sides have an embedding. */
    weight: z.number().min(0).max(2).default(0.5),
    /**
     * Similarity at which the appearance term is zero: more similar pairs gain, less similar lose.
     * Between OSNet's same-person (about 0.9) and other-person (0.4-0.5) similarities.
     */
    pivot: z.number().min(-1).max(1).default(0.7),
    /**
     * Least IoU for a first-stage pair that appearance vouches for (similarity ≥ pivot): a person
     * stepping out from behind another overlaps their own track less than `match_iou`.
     */
    gate_iou: z.number().min(0).max(1).default(0.1),
    /** A detection is ambiguous when a second track's cost is within this of its best (or a track's second detection is). */
    margin: z.number().min(0).max(1).default(0.5),
    /** Least similarity for a track to take a detection by appearance alone, no IoU (after the IoU stages). */
    reid_similarity: z.number().min(-1).max(1).default(0.75),
    /** Deep OC-SORT's α_f: how much of a track's embedding a confident new crop leaves in place. */
    ema: z.number().min(0).max(1).default(0.95),
    /** A track near another one (centres within this many box heights) gets its embedding before they meet. */
    near: z.number().min(0).max(10).default(1.5),
    /** A track's embedding is refreshed at most this often while it stays near others. */
    refresh_ms: z.number().int().min(0).max(600_000).default(1000),
  }).prefault({}),
  /** Match detections to tracks across classes (a detector that flickers between "car" and "truck"). */
  class_agnostic: z.boolean().default(false),
  kalman: z.strictObject({
    /** Detector box jitter, fraction of box height. */
    measurement_std: z.number().positive().max(1).default(0.1),
    /** Unmodelled position change, fraction of box height per √s. */
    position_std: z.number().positive().max(10).default(0.25),
    /** Change of velocity, fraction of box height per s per √s. */
    velocity_std: z.number().positive().max(100).default(0.75),
  }).prefault({}),
}).refine((c) => c.low_score <= c.high_score, { message: 'low_score must not exceed high_score', path: ['low_score'] });

export type TrackerConfig = z.infer<typeof trackerConfigSchema>;
export type TrackerConfigInput = z.input<typeof trackerConfigSchema>;
