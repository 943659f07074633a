import type { Box, Detection } from '../../inference/types.js';
import { BoxKalman, KALMAN_STATE_SIZE, type KalmanNoise } from './kalman.js';

/**
 * `tentative`: seen in too few consecutive frames to be trusted; it has no id yet and is dropped
 * at its first miss. `confirmed`: matched in the latest frame. `lost`: confirmed before, missed
 * since, kept on its predicted path until `max_lost_ms` so that it can be re-found with its id.
 */
export type TrackState = 'tentative' | 'confirmed' | 'lost';

/** What the tracker reports about one object; a copy, safe to keep. */
export interface TrackedObject {
  /** Unique within one tracker (one stream); never reused. */
  id: number;
  state: 'confirmed' | 'lost';
  classId: number;
  label: string;
  /** Score of the latest matched detection. */
  score: number;
  /** Filtered box [x1, y1, x2, y2] in source pixels (the prediction while lost). */
  box: Box;
  /** Centre velocity, source pixels per second. */
  velocity: [number, number];
  /** Frames since the track was born, this one included. */
  age: number;
  /** Frames with a matched detection. */
  hits: number;
  /** Timestamps (ms) of the first and the latest matched detection. */
  firstSeen: number;
  lastSeen: number;
}

/** How many observed centres a track keeps for its direction of motion (OC-SORT's Δt is at most this). */
const HISTORY = 8;

export class Track {
  id = 0;
  state: TrackState = 'tentative';
  hits = 1;
  age = 1;
  score: number;
  classId: number;
  label: string;
  readonly firstSeen: number;
  lastSeen: number;
  /** This frame's predicted box, computed once and shared by every association stage. */
  predicted: Box;
  readonly kf: BoxKalman;
  /** The latest detection's box: where the object was last seen, not where the filter thinks it went. */
  observed: Box;
  /** Centres of the latest observations (oldest first) with their frame ages, for the direction of motion. */
  private readonly centres: { x: number; y: number; age: number }[] = [];
  /** Filter state at the latest observation, and the steps predicted since: what re-update replays. */
  private saved: Float64Array | null = null;
  private readonly gap: number[] = [];
  /** Appearance (L2-normalised EMA of OSNet embeddings), only once the cue looked at this track; null otherwise. */
  embedding: Float32Array | null = null;
  /** When `embedding` last took a crop (ms); -Infinity before. */
  embeddedAt = Number.NEGATIVE_INFINITY;

  constructor(det: Detection, ts: number, noise: KalmanNoise, private readonly reUpdate = false) {
    this.kf = new BoxKalman(det.box, noise);
    this.score = det.score;
    this.classId = det.classId;
    this.label = det.label;
    this.firstSeen = ts;
    this.lastSeen = ts;
    this.predicted = this.kf.box();
    this.observed = [...det.box];
    this.observe(det.box);
    this.saveState();
  }

  predict(dt: number): void {
    if (this.state === 'lost') this.kf.freezeScale();
    this.kf.predict(dt);
    this.age += 1;
    this.predicted = this.kf.box();
    if (this.reUpdate) this.gap.push(dt);
  }

  /**
   * Unit direction of motion over the observations at most `delta` frames back, or null with
   * fewer than two observations. Observed, not filtered: OC-SORT's point is that the filter's
   * velocity drifts while an object is unseen, and its observations do not.
   */
  direction(delta: number): [number, number] | null {
    const n = this.centres.length;
    if (n < 2) return null;
    const last = this.centres[n - 1]!;
    let from = this.centres[n - 2]!;
    for (let k = n - 2; k >= 0 && last.age - this.centres[k]!.age <= delta; k--) from = this.centres[k]!;
    return unit(last.x - from.x, last.y - from.y);
  }

  hit(det: Detection, ts: number): void {
    if (this.reUpdate) this.replayGap(det.box);
    this.kf.update(det.box);
    this.saveState();
    this.observed = [...det.box];
    this.observe(det.box);
    this.hits += 1;
    this.score = det.score;
    this.lastSeen = ts;
    // A class-agnostic tracker follows the detector's latest opinion of what the object is.
    this.classId = det.classId;
    this.label = det.label;
  }

  private observe(box: Readonly<Box>): void {
    this.centres.push({ x: (box[0] + box[2]) / 2, y: (box[1] + box[3]) / 2, age: this.age });
    if (this.centres.length > HISTORY) this.centres.shift();
  }

  /**
   * OC-SORT's observation-centric re-update: after frames without a detection, the filter's
   * velocity has drifted on its own guesses. Going back to the state at the last observation and
   * replaying the missed frames with boxes interpolated (by time) between the last observation and
   * this one gives the filter the velocity the object really had. With no frame missed there is
   * nothing to replay and the state is only saved.
   */
  private replayGap(box: Readonly<Box>): void {
    const steps = this.gap.length;
    if (this.saved === null || steps < 2) return;
    const total = this.gap.reduce((a, b) => a + b, 0);
    const from = this.observed;
    this.kf.restore(this.saved);
    let elapsed = 0;
    for (let k = 0; k < steps - 1; k++) {
      const dt = this.gap[k]!;
      elapsed += dt;
      const f = total > 0 ? elapsed / total : (k + 1) / steps;
      this.kf.predict(dt);
      this.kf.update([0, 1, 2, 3].map((i) => from[i]! + f * (box[i]! - from[i]!)) as Box);
    }
    this.kf.predict(this.gap[steps - 1]!);
  }

  /** Keeps the filter state at this observation (re-update only), and forgets the steps before it. */
  private saveState(): void {
    if (!this.reUpdate) return;
    this.saved ??= new Float64Array(KALMAN_STATE_SIZE);
    this.kf.save(this.saved);
    this.gap.length = 0;
  }

  snapshot(): TrackedObject {
    if (this.state === 'tentative') throw new Error('tentative tracks are not reported');
    return {
      id: this.id, state: this.state, classId: this.classId, label: this.label, score: this.score,
      box: this.state === 'lost' ? [...this.predicted] : this.kf.box(), velocity: this.kf.velocity(),
      age: this.age, hits: this.hits, firstSeen: this.firstSeen, lastSeen: this.lastSeen,
    };
  }
}

function unit(dx: number, dy: number): [number, number] | null {
  const n = Math.hypot(dx, dy);
  return n > 1e-6 ? [dx / n, dy / n] : null;
}
