import type { Box, Detection } from '../../inference/types.js';
import { BoxKalman, type KalmanNoise } from './kalman.js';

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

  constructor(det: Detection, ts: number, noise: KalmanNoise) {
    this.kf = new BoxKalman(det.box, noise);
    this.score = det.score;
    this.classId = det.classId;
    this.label = det.label;
    this.firstSeen = ts;
    this.lastSeen = ts;
    this.predicted = this.kf.box();
  }

  predict(dt: number): void {
    if (this.state === 'lost') this.kf.freezeScale();
    this.kf.predict(dt);
    this.age += 1;
    this.predicted = this.kf.box();
  }

  hit(det: Detection, ts: number): void {
    this.kf.update(det.box);
    this.hits += 1;
    this.score = det.score;
    this.lastSeen = ts;
    // A class-agnostic tracker follows the detector's latest opinion of what the object is.
    this.classId = det.classId;
    this.label = det.label;
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
