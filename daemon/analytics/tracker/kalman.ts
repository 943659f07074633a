import type { Box } from '../../inference/types.js';

/**
 * Noise of the constant-velocity box model. Position and velocity noise scale with the box
 * height, as in SORT and ByteTrack, so that near (large) and far (small) objects are equally
 * easy to follow. Process noise is given per second and grows with the time between frames,
 * because Vigil analyses at whatever rate the model allows: a dropped frame is a longer step,
 * not a missed update.
 */
export interface KalmanNoise {
  /** Detector box jitter, as a fraction of the box height (std per measurement). */
  measurementStd: number;
  /** Unmodelled position change, fraction of height per √s (std). */
  positionStd: number;
  /** Change of velocity, fraction of height per second per √s (std). */
  velocityStd: number;
}

// The aspect ratio (w/h) of a person or a car barely changes; these fixed stds keep it steady
// without making a real change (a person turning) impossible to follow.
const ASPECT_MEASUREMENT_STD = 0.1;
const ASPECT_PROCESS_STD = 0.05;
const ASPECT_VELOCITY_STD = 0.002;

const N = 8;
const M = 4;
/** Length of the array `save` fills: the mean and the covariance. */
export const KALMAN_STATE_SIZE = N + N * N;

// Scratch shared by all filters: JavaScript runs one update at a time, and per-call arrays
// would otherwise be allocated for every track on every frame.
const gain = new Float64Array(N * M);
const innovationCov = new Float64Array(M * M);
const innovationInv = new Float64Array(M * M);
const topRows = new Float64Array(M * N);
const innovation = new Float64Array(M);
const work = new Float64Array(M * 2 * M);

/**
 * Kalman filter over [cx, cy, aspect, h, vcx, vcy, vaspect, vh] with velocities per second, and
 * the box [cx, cy, aspect, h] as the measurement. Covariance arithmetic is written out for this
 * one shape instead of going through a general matrix library.
 */
export class BoxKalman {
  /** State mean. */
  readonly x = new Float64Array(N);
  /** State covariance, row-major 8×8. */
  readonly P = new Float64Array(N * N);

  constructor(box: Readonly<Box>, private readonly noise: KalmanNoise) {
    measure(box, this.x);
    const h = this.x[3]!;
    // Unknown velocity at birth: wide enough that the second detection sets it almost alone.
    const std = [
      2 * noise.measurementStd * h, 2 * noise.measurementStd * h, 2 * ASPECT_MEASUREMENT_STD, 2 * noise.measurementStd * h,
      10 * noise.velocityStd * h, 10 * noise.velocityStd * h, 10 * ASPECT_VELOCITY_STD, 10 * noise.velocityStd * h,
    ];
    for (let i = 0; i < N; i++) this.P[i * N + i] = std[i]! ** 2;
  }

  /** Moves the state `dt` seconds forward under constant velocity. */
  predict(dt: number): void {
    const { x, P } = this;
    for (let i = 0; i < M; i++) x[i] = x[i]! + dt * x[i + M]!;
    // P ← F P Fᵀ with F = [[I, dt·I], [0, I]], in place: rows first, then columns; the lower
    // rows and right columns that each pass reads are the ones it does not write.
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) P[i * N + j] = P[i * N + j]! + dt * P[(i + M) * N + j]!;
    for (let i = 0; i < N; i++) for (let j = 0; j < M; j++) P[i * N + j] = P[i * N + j]! + dt * P[i * N + j + M]!;
    const h = Math.max(x[3]!, 1);
    const pos = (this.noise.positionStd * h) ** 2 * dt;
    const vel = (this.noise.velocityStd * h) ** 2 * dt;
    for (let i = 0; i < M; i++) {
      P[i * N + i] = P[i * N + i]! + (i === 2 ? ASPECT_PROCESS_STD ** 2 * dt : pos);
      P[(i + M) * N + i + M] = P[(i + M) * N + i + M]! + (i === 2 ? ASPECT_VELOCITY_STD ** 2 * dt : vel);
    }
  }

  /** Corrects the state with a measured box. */
  update(box: Readonly<Box>): void {
    const { x, P } = this;
    measure(box, innovation);
    for (let i = 0; i < M; i++) innovation[i] = innovation[i]! - x[i]!;
    const h = Math.max(x[3]!, 1);
    const r = (this.noise.measurementStd * h) ** 2;
    // S = H P Hᵀ + R is the top-left 4×4 block of P plus R.
    for (let i = 0; i < M; i++) for (let j = 0; j < M; j++) innovationCov[i * M + j] = P[i * N + j]!;
    for (let i = 0; i < M; i++) innovationCov[i * M + i] = innovationCov[i * M + i]! + (i === 2 ? ASPECT_MEASUREMENT_STD ** 2 : r);
    invert4(innovationCov, innovationInv);
    // K = P Hᵀ S⁻¹: P's first four columns times S⁻¹.
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < M; j++) {
        let s = 0;
        for (let k = 0; k < M; k++) s += P[i * N + k]! * innovationInv[k * M + j]!;
        gain[i * M + j] = s;
      }
    }
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let k = 0; k < M; k++) s += gain[i * M + k]! * innovation[k]!;
      x[i] = x[i]! + s;
    }
    // P ← P − K H P, where H P is P's first four rows (copied first: P changes underneath).
    topRows.set(P.subarray(0, M * N));
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < M; k++) s += gain[i * M + k]! * topRows[k * N + j]!;
        P[i * N + j] = P[i * N + j]! - s;
      }
    }
    // Rounding slowly breaks symmetry over months of updates; restore it.
    for (let i = 0; i < N; i++) {
      for (let j = i + 1; j < N; j++) {
        const m = (P[i * N + j]! + P[j * N + i]!) / 2;
        P[i * N + j] = m;
        P[j * N + i] = m;
      }
    }
  }

  /** Copies the state (mean and covariance) into `into`, 72 numbers, to be restored later. */
  save(into: Float64Array): void {
    into.set(this.x, 0);
    into.set(this.P, N);
  }

  /** Restores a state written by `save`. */
  restore(from: Float64Array): void {
    this.x.set(from.subarray(0, N));
    this.P.set(from.subarray(N, N + N * N));
  }

  /** Forgets the height's rate of change: a lost object should not keep growing or shrinking. */
  freezeScale(): void {
    this.x[7] = 0;
  }

  /** The filtered box as [x1, y1, x2, y2]. */
  box(): Box {
    const [cx, cy, a, h] = [this.x[0]!, this.x[1]!, this.x[2]!, this.x[3]!];
    const w = a * h;
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
  }

  /** Centre velocity in source pixels per second. */
  velocity(): [number, number] {
    return [this.x[4]!, this.x[5]!];
  }
}

/** [x1, y1, x2, y2] → [cx, cy, w/h, h]; degenerate boxes get a height of 1 pixel. */
function measure(box: Readonly<Box>, out: Float64Array): void {
  const w = Math.max(box[2] - box[0], 0);
  const h = Math.max(box[3] - box[1], 1);
  out[0] = (box[0] + box[2]) / 2;
  out[1] = (box[1] + box[3]) / 2;
  out[2] = w / h;
  out[3] = h;
}

/**
 * Inverts a symmetric positive-definite 4×4 matrix by Gauss–Jordan elimination with partial
 * pivoting. S is always positive definite here (R > 0), so a zero pivot means corrupted state.
 */
export function invert4(a: Float64Array, out: Float64Array): void {
  const W = 2 * M;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < M; j++) {
      work[i * W + j] = a[i * M + j]!;
      work[i * W + M + j] = i === j ? 1 : 0;
    }
  }
  for (let c = 0; c < M; c++) {
    let pivot = c;
    for (let r = c + 1; r < M; r++) if (Math.abs(work[r * W + c]!) > Math.abs(work[pivot * W + c]!)) pivot = r;
    if (work[pivot * W + c] === 0) throw new RangeError('singular innovation covariance');
    if (pivot !== c) {
      for (let j = 0; j < W; j++) {
        const t = work[c * W + j]!;
        work[c * W + j] = work[pivot * W + j]!;
        work[pivot * W + j] = t;
      }
    }
    const d = work[c * W + c]!;
    for (let j = 0; j < W; j++) work[c * W + j] = work[c * W + j]! / d;
    for (let r = 0; r < M; r++) {
      if (r === c) continue;
      const f = work[r * W + c]!;
      if (f === 0) continue;
      for (let j = 0; j < W; j++) work[r * W + j] = work[r * W + j]! - f * work[c * W + j]!;
    }
  }
  for (let i = 0; i < M; i++) for (let j = 0; j < M; j++) out[i * M + j] = work[i * W + M + j]!;
}
