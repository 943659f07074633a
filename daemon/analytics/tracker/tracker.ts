import type { Box, Detection } from '../../inference/types.js';
import { AssignmentSolver } from './assignment.js';
import { trackerConfigSchema, type TrackerConfig, type TrackerConfigInput } from './config.js';
import { iou } from './iou.js';
import type { KalmanNoise } from './kalman.js';
import { Track, type TrackedObject } from './track.js';

/** The tracker's answer for one frame. */
export interface TrackerFrame {
  /** Confirmed tracks matched in this frame, by id. */
  tracks: TrackedObject[];
  /** Confirmed tracks missed in this frame but still kept, with predicted boxes. */
  lost: TrackedObject[];
  /** Ids of tracks removed in this frame, lost for longer than `max_lost_ms`: their activity ended. */
  removed: number[];
}

// Gated pairs get a cost above every real one (1 − IoU ≤ 1), so the solver uses them only when
// nothing else is left, and they are dropped afterwards.
const GATED = 1e6;

/**
 * ByteTrack-style multi-object tracker for one stream: a constant-velocity Kalman filter per
 * object, and per frame three optimal assignments on IoU:
 *
 * 1. high-score detections against every confirmed track, lost ones included (re-finding);
 * 2. low-score detections against the tracks still unmatched and not lost: an occluded or blurred
 *    person scores low, and letting such boxes carry a track is ByteTrack's central idea, while
 *    never letting them start one keeps clutter out;
 * 3. the remaining high-score detections against tentative tracks, which are born from leftover
 *    high-score detections and confirmed after `min_hits` consecutive hits.
 *
 * Not thread-safe and not meant to be: one instance per stream, called once per analysed frame.
 */
export class Tracker {
  readonly config: TrackerConfig;
  private readonly noise: KalmanNoise;
  private tracks: Track[] = [];
  private nextId = 1;
  private lastTs: number | null = null;
  private readonly solver = new AssignmentSolver();
  private cost = new Float64Array(64);

  constructor(config: TrackerConfigInput | TrackerConfig = {}) {
    this.config = trackerConfigSchema.parse(config);
    const k = this.config.kalman;
    this.noise = { measurementStd: k.measurement_std, positionStd: k.position_std, velocityStd: k.velocity_std };
  }

  /**
   * Feeds one analysed frame's detections (source pixels) taken at `ts` (ms). Frames must come in
   * time order; a timestamp that goes backwards is treated as no time passing.
   */
  update(ts: number, detections: readonly Detection[]): TrackerFrame {
    const c = this.config;
    const starting = this.lastTs === null;
    const dt = this.lastTs === null ? 0 : Math.max(0, ts - this.lastTs) / 1000;
    this.lastTs = ts;
    for (const t of this.tracks) t.predict(dt);

    const high: Detection[] = [];
    const low: Detection[] = [];
    for (const d of detections) {
      if (d.score >= c.high_score) high.push(d);
      else if (d.score >= c.low_score) low.push(d);
    }

    const established = this.tracks.filter((t) => t.state !== 'tentative');
    const first = this.associate(established, high, c.match_iou, 'predicted', c.momentum_weight);
    for (const [t, d] of first.pairs) this.hit(t, d, ts);

    const stillTracked = first.tracks.filter((t) => t.state === 'confirmed');
    const second = this.associate(stillTracked, low, c.low_match_iou);
    for (const [t, d] of second.pairs) this.hit(t, d, ts);
    let leftover = first.detections;
    if (c.recovery_iou > 0 && leftover.length > 0) {
      const matched = new Set(second.pairs.map(([t]) => t));
      const unmatched = first.tracks.filter((t) => !matched.has(t));
      const recovered = this.associate(unmatched, leftover, c.recovery_iou, 'observed');
      for (const [t, d] of recovered.pairs) this.hit(t, d, ts);
      leftover = recovered.detections;
    }
    for (const t of second.tracks) if (t.state === 'confirmed' && t.lastSeen !== ts) t.state = 'lost';

    const tentative = this.tracks.filter((t) => t.state === 'tentative');
    const third = this.associate(tentative, leftover, c.tentative_match_iou);
    for (const [t, d] of third.pairs) this.hit(t, d, ts);
    const dropped = new Set<Track>(third.tracks);

    const removed: number[] = [];
    for (const t of this.tracks) {
      if (t.state === 'lost' && ts - t.lastSeen > c.max_lost_ms) {
        dropped.add(t);
        removed.push(t.id);
      }
    }
    if (dropped.size > 0) this.tracks = this.tracks.filter((t) => !dropped.has(t));

    for (const d of third.detections) {
      if (d.score < c.new_track_score) continue;
      const t = new Track(d, ts, this.noise, c.re_update);
      if (c.min_hits <= 1 || (starting && c.confirm_at_start)) this.confirm(t);
      this.tracks.push(t);
    }

    const frame: TrackerFrame = { tracks: [], lost: [], removed };
    for (const t of this.tracks) {
      if (t.state === 'confirmed') frame.tracks.push(t.snapshot());
      else if (t.state === 'lost') frame.lost.push(t.snapshot());
    }
    return frame;
  }

  /** Forgets every track (a stream restarted with a different scene); ids keep counting up. */
  reset(): void {
    this.tracks = [];
    this.lastTs = null;
  }

  /** Tracks alive now, tentative ones included; for tests and diagnostics. */
  get size(): number {
    return this.tracks.length;
  }

  private hit(t: Track, d: Detection, ts: number): void {
    t.hit(d, ts);
    if (t.state === 'lost') t.state = 'confirmed';
    else if (t.state === 'tentative' && t.hits >= this.config.min_hits) this.confirm(t);
  }

  private confirm(t: Track): void {
    t.state = 'confirmed';
    // Ids are handed out on confirmation, so the ids an operator sees have no gaps left by
    // tentative tracks that came to nothing.
    t.id = this.nextId++;
  }

  /**
   * Optimal IoU assignment, against each track's prediction or its last observed box; returns the
   * pairs and whatever stayed unmatched on either side. With momentum, a pair whose direction
   * agrees with the track's observed motion gains up to `momentum_weight`, scaled by the
   * detection's score as in OC-SORT; the IoU gate is unchanged.
   */
  private associate(tracks: readonly Track[], dets: readonly Detection[], minIou: number, against: 'predicted' | 'observed' = 'predicted',
    momentum = 0): { pairs: [Track, Detection][]; tracks: Track[]; detections: Detection[] } {
    if (tracks.length === 0 || dets.length === 0) return { pairs: [], tracks: [...tracks], detections: [...dets] };
    const rows = tracks.length;
    const cols = dets.length;
    if (this.cost.length < rows * cols) this.cost = new Float64Array(2 * rows * cols);
    const cost = this.cost;
    const agnostic = this.config.class_agnostic;
    for (let i = 0; i < rows; i++) {
      const t = tracks[i]!;
      const ref = against === 'observed' ? t.observed : t.predicted;
      const dir = momentum > 0 ? t.direction(this.config.momentum_frames) : null;
      for (let j = 0; j < cols; j++) {
        const d = dets[j]!;
        const overlap = agnostic || d.classId === t.classId ? iou(ref, d.box) : 0;
        let c = overlap >= minIou && overlap > 0 ? 1 - overlap : GATED;
        if (dir !== null && c < GATED) c -= momentum * d.score * directionAgreement(dir, t.observed, d.box);
        cost[i * cols + j] = c;
      }
    }
    const assigned = this.solver.solve(cost, rows, cols);
    const pairs: [Track, Detection][] = [];
    const unmatchedTracks: Track[] = [];
    const taken = new Uint8Array(cols);
    for (let i = 0; i < rows; i++) {
      const j = assigned[i]!;
      if (j >= 0 && cost[i * cols + j]! < GATED / 2) {
        pairs.push([tracks[i]!, dets[j]!]);
        taken[j] = 1;
      } else {
        unmatchedTracks.push(tracks[i]!);
      }
    }
    return { pairs, tracks: unmatchedTracks, detections: dets.filter((_, j) => taken[j] === 0) };
  }
}

/**
 * OC-SORT's angle term: (π/2 − |angle between the track's direction and the direction from its
 * last observation to the detection|) / π, from −0.5 (opposite) to 0.5 (same way); 0 when the
 * detection sits on the last observation and has no direction.
 */
function directionAgreement(dir: readonly [number, number], from: Readonly<Box>, to: Readonly<Box>): number {
  const dx = (to[0] + to[2]) / 2 - (from[0] + from[2]) / 2;
  const dy = (to[1] + to[3]) / 2 - (from[1] + from[3]) / 2;
  const n = Math.hypot(dx, dy);
  if (n < 1e-6) return 0;
  const cos = Math.max(-1, Math.min(1, (dir[0] * dx + dir[1] * dy) / n));
  return (Math.PI / 2 - Math.acos(cos)) / Math.PI;
}
