import type { Box, Detection } from '../../inference/types.js';
import { AssignmentSolver } from './assignment.js';
import { trackerConfigSchema, type TrackerConfig, type TrackerConfigInput } from './config.js';
import { blendEmbedding, cosine, type AppearanceStats, type Look } from './appearance.js';
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

/** One frame between prediction and association (what `updateSeeing` holds while it looks). */
interface Step {
  ts: number;
  starting: boolean;
  high: Detection[];
  low: Detection[];
  established: Track[];
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
  /** The IoU behind each entry of `cost`, for the appearance gate. */
  private overlap = new Float64Array(64);
  private busy = false;
  readonly appearanceStats: AppearanceStats = { frames: 0, looked: 0, crops: 0, changed: 0, reidentified: 0, lookMs: 0, lookFailures: 0 };

  constructor(config: TrackerConfigInput | TrackerConfig = {}) {
    this.config = trackerConfigSchema.parse(config);
    const k = this.config.kalman;
    this.noise = { measurementStd: k.measurement_std, positionStd: k.position_std, velocityStd: k.velocity_std };
  }

  /**
   * Feeds one analysed frame's detections (source pixels) taken at `ts` (ms). Frames must come in
   * time order; a timestamp that goes backwards is treated as no time passing. Motion only: the
   * appearance cue needs the frame, see `updateSeeing`.
   */
  update(ts: number, detections: readonly Detection[]): TrackerFrame {
    this.enter();
    try {
      return this.conclude(this.begin(ts, detections), null);
    } finally {
      this.busy = false;
    }
  }

  /**
   * `update` with the appearance cue (when `appearance.enabled`): before the first stage, the
   * detections motion cannot place (two tracks within `margin` of each other's cost, a lost track
   * re-found, a track about to meet another) are embedded through `look`, and only those; every
   * other frame costs what `update` costs. The tracker must not be fed again until this settles.
   */
  async updateSeeing(ts: number, detections: readonly Detection[], look: Look): Promise<TrackerFrame> {
    this.enter();
    try {
      const step = this.begin(ts, detections);
      if (!this.config.appearance.enabled) return this.conclude(step, null);
      this.appearanceStats.frames += 1;
      const wanted = this.wanted(step);
      if (wanted.length === 0) return this.conclude(step, null);
      const started = performance.now();
      let vectors: readonly Float32Array[];
      try {
        vectors = await look(wanted.map((d) => d.box));
        if (vectors.length !== wanted.length) throw new Error(`asked for ${wanted.length} embeddings, got ${vectors.length}`);
      } catch (err) {
        // The frame is half-way (tracks predicted): finish it on motion alone rather than leave
        // the tracker in between, and let the caller see the count, not an exception per frame.
        this.appearanceStats.lookFailures += 1;
        this.appearanceStats.lastLookError = err instanceof Error ? err.message : String(err);
        return this.conclude(step, null);
      } finally {
        this.appearanceStats.lookMs += performance.now() - started;
      }
      this.appearanceStats.looked += 1;
      this.appearanceStats.crops += wanted.length;
      const seen = new Map<Detection, Float32Array>();
      wanted.forEach((d, k) => seen.set(d, vectors[k]!));
      return this.conclude(step, seen);
    } finally {
      this.busy = false;
    }
  }

  private enter(): void {
    // updateSeeing awaits between its halves; a second frame in between would predict twice.
    if (this.busy) throw new Error('tracker: a frame was fed before the previous one was finished');
    this.busy = true;
  }

  /** Predicts every track to `ts` and splits the detections by score: the part before any association. */
  private begin(ts: number, detections: readonly Detection[]): Step {
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
    return { ts, starting, high, low, established: this.tracks.filter((t) => t.state !== 'tentative') };
  }

  private conclude({ ts, starting, high, low, established }: Step, seen: Map<Detection, Float32Array> | null): TrackerFrame {
    const c = this.config;
    const first = this.firstStage(established, high, seen);
    for (const [t, d] of first.pairs) {
      this.hit(t, d, ts);
      const v = seen?.get(d);
      // A crop that overlaps another detection shows two people: used to decide, never to learn from.
      if (v !== undefined && cleanCrop(d, high, low)) this.remember(t, v, d.score, ts);
    }
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
    if (seen !== null && leftover.length > 0) leftover = this.reidentify(established, leftover, seen, ts, high, low);
    for (const t of second.tracks) if (t.state === 'confirmed' && t.lastSeen !== ts) t.state = 'lost';

    const tentative = this.tracks.filter((t) => t.state === 'tentative');
    const third = this.associate(tentative, leftover, c.tentative_match_iou);
    for (const [t, d] of third.pairs) this.hit(t, d, ts);
    const dropped = new Set<Track>(third.tracks);

    const removed: number[] = [];
    for (const t of this.tracks) {
      if (t.state === 'lost' && (ts - t.lastSeen > c.max_lost_ms || (c.lost_seen_ratio > 0 && ts - t.lastSeen > c.lost_seen_ratio * (t.lastSeen - t.firstSeen)))) {
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
   * High-score detections against the confirmed and lost tracks: in one assignment, or with
   * `lost_after_tracked` the tracks seen last frame first and the lost ones against what is left.
   * A frame where the appearance cue looked stays one assignment: appearance is what tells a lost
   * track's person from the one being followed, and it can only weigh the two in one assignment.
   * The pairs are returned before any is applied, so the two halves see the same frame.
   */
  private firstStage(established: readonly Track[], high: readonly Detection[], seen: Map<Detection, Float32Array> | null):
    { pairs: [Track, Detection][]; tracks: Track[]; detections: Detection[] } {
    const c = this.config;
    if (!c.lost_after_tracked || (seen !== null && seen.size > 0)) return this.associate(established, high, c.match_iou, 'predicted', c.momentum_weight, seen);
    const tracked = established.filter((t) => t.state === 'confirmed');
    const lost = established.filter((t) => t.state === 'lost');
    const a = this.associate(tracked, high, c.match_iou, 'predicted', c.momentum_weight, seen);
    const b = this.associate(lost, a.detections, c.match_iou, 'predicted', c.momentum_weight, seen);
    return { pairs: [...a.pairs, ...b.pairs], tracks: [...a.tracks, ...b.tracks], detections: b.detections };
  }

  /**
   * Optimal IoU assignment, against each track's prediction or its last observed box; returns the
   * pairs and whatever stayed unmatched on either side. With momentum, a pair whose direction
   * agrees with the track's observed motion gains up to `momentum_weight`, scaled by the
   * detection's score as in OC-SORT; with embeddings (`seen`), a pair whose two sides both have one
   * gains or loses `appearance.weight × (similarity − pivot)`. Neither moves the IoU gate.
   */
  private associate(tracks: readonly Track[], dets: readonly Detection[], minIou: number, against: 'predicted' | 'observed' = 'predicted',
    momentum = 0, seen: Map<Detection, Float32Array> | null = null): { pairs: [Track, Detection][]; tracks: Track[]; detections: Detection[] } {
    if (tracks.length === 0 || dets.length === 0) return { pairs: [], tracks: [...tracks], detections: [...dets] };
    const rows = tracks.length;
    const cols = dets.length;
    const looking = seen !== null && seen.size > 0;
    const a = this.config.appearance;
    const cost = this.motionCost(tracks, dets, looking ? Math.min(minIou, a.gate_iou) : minIou, against, momentum);
    let plain: Int32Array | null = null;
    if (looking) {
      const overlap = this.overlap;
      // What motion alone would have chosen (the strict gate, no appearance), only to count the
      // decisions appearance changed; then the appearance term, which alone may pass a pair whose
      // IoU is between gate_iou and minIou.
      const strict = Float64Array.from(cost.subarray(0, rows * cols), (c, k) => (overlap[k]! < minIou ? GATED : c));
      plain = this.solver.solve(strict, rows, cols).slice();
      const sims = new Float64Array(rows * cols).fill(Number.NaN);
      const rowMax = new Float64Array(rows).fill(-1);
      const colMax = new Float64Array(cols).fill(-1);
      for (let i = 0; i < rows; i++) {
        const e = tracks[i]!.embedding;
        if (e === null) continue;
        for (let j = 0; j < cols; j++) {
          const v = seen.get(dets[j]!);
          if (v === undefined || cost[i * cols + j]! >= GATED) continue;
          const sim = cosine(e, v);
          sims[i * cols + j] = sim;
          rowMax[i] = Math.max(rowMax[i]!, sim);
          colMax[j] = Math.max(colMax[j]!, sim);
        }
      }
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) {
          const k = i * cols + j;
          if (cost[k]! >= GATED) continue;
          const sim = sims[k]!;
          if (Number.isNaN(sim)) {
            if (overlap[k]! < minIou) cost[k] = GATED;
          } else if (overlap[k]! < minIou && sim < a.pivot) {
            cost[k] = GATED;
          } else if (rowMax[i]! >= a.pivot || colMax[j]! >= a.pivot) {
            // Only when some pair here looks alike: when nothing does (a stale embedding, a person
            // turning round), differences among low similarities are noise and motion decides.
            cost[k]! -= a.weight * (sim - a.pivot);
          }
        }
      }
    }
    const assigned = this.solver.solve(cost, rows, cols);
    const pairs: [Track, Detection][] = [];
    const unmatchedTracks: Track[] = [];
    const taken = new Uint8Array(cols);
    for (let i = 0; i < rows; i++) {
      const j = assigned[i]!;
      if (plain !== null && plain[i] !== j) this.appearanceStats.changed += 1;
      if (j >= 0 && cost[i * cols + j]! < GATED / 2) {
        pairs.push([tracks[i]!, dets[j]!]);
        taken[j] = 1;
      } else {
        unmatchedTracks.push(tracks[i]!);
      }
    }
    return { pairs, tracks: unmatchedTracks, detections: dets.filter((_, j) => taken[j] === 0) };
  }

  /** The cost matrix (row-major, tracks × detections, in the tracker's own buffer): 1 − IoU less momentum, GATED below `minIou`. */
  private motionCost(tracks: readonly Track[], dets: readonly Detection[], minIou: number, against: 'predicted' | 'observed', momentum: number): Float64Array {
    const rows = tracks.length;
    const cols = dets.length;
    if (this.cost.length < rows * cols) {
      this.cost = new Float64Array(2 * rows * cols);
      this.overlap = new Float64Array(2 * rows * cols);
    }
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
        this.overlap[i * cols + j] = overlap;
      }
    }
    return cost;
  }

  /**
   * The high-score detections worth a crop this frame, from the first stage's motion costs with
   * the appearance gate's looser IoU (a person stepping out of a group overlaps their track less):
   *
   * - ambiguous: a detection whose second-best track is within `margin` of its best, or one of a
   *   track's detections within `margin` of each other — when a track there has an embedding to
   *   compare with;
   * - re-found: a detection whose best track is a lost one with an embedding;
   * - a first look: the one clear detection of a confirmed track that has no embedding yet;
   * - about to meet: the one clear detection of a confirmed track that has another track's centre
   *   within `near` box heights and no embedding newer than `refresh_ms`;
   *
   * the last two only from a clean crop (one that overlaps no other detection), which shows one person.
   */
  private wanted({ ts, high, low, established }: Step): Detection[] {
    const a = this.config.appearance;
    const rows = established.length;
    const cols = high.length;
    if (rows === 0 || cols === 0) return [];
    const cost = this.motionCost(established, high, Math.min(this.config.match_iou, a.gate_iou), 'predicted', this.config.momentum_weight);
    const want = new Uint8Array(cols);
    const rowBest = new Float64Array(rows).fill(GATED);
    const rowSecond = new Float64Array(rows).fill(GATED);
    const rowCount = new Int32Array(rows);
    const rowOnly = new Int32Array(rows).fill(-1);
    const colCount = new Int32Array(cols);
    for (let j = 0; j < cols; j++) {
      let best = GATED;
      let second = GATED;
      let bestRow = -1;
      let known = false;
      for (let i = 0; i < rows; i++) {
        const c = cost[i * cols + j]!;
        if (c >= GATED) continue;
        colCount[j]! += 1;
        rowCount[i]! += 1;
        rowOnly[i] = j;
        if (established[i]!.embedding !== null) known = true;
        if (c < best) { second = best; best = c; bestRow = i; } else if (c < second) second = c;
        if (c < rowBest[i]!) { rowSecond[i] = rowBest[i]!; rowBest[i] = c; } else if (c < rowSecond[i]!) rowSecond[i] = c;
      }
      if (bestRow < 0) {
        // No track can take it by motion: worth a look if it would start a track where a lost one
        // with an embedding could have gone.
        const d = high[j]!;
        if (d.score >= this.config.new_track_score && established.some((t) => t.state === 'lost' && t.embedding !== null && withinReach(t, d.box, a.near, ts))) want[j] = 1;
        continue;
      }
      const bestTrack = established[bestRow]!;
      if (known && second - best <= a.margin) want[j] = 1;
      if (bestTrack.state === 'lost' && bestTrack.embedding !== null) want[j] = 1;
    }
    for (let i = 0; i < rows; i++) {
      const t = established[i]!;
      if (rowCount[i]! >= 2 && t.embedding !== null && rowSecond[i]! - rowBest[i]! <= a.margin) {
        for (let j = 0; j < cols; j++) {
          const c = cost[i * cols + j]!;
          if (c < GATED && c - rowBest[i]! <= a.margin) want[j] = 1;
        }
      }
      const j = rowOnly[i]!;
      if (t.state !== 'confirmed' || rowCount[i] !== 1 || colCount[j] !== 1 || want[j] === 1) continue;
      // Every track gets one look once confirmed (one crop in its life, so a pillar can hide it and
      // it still be re-found); after that only near another track, at most every refresh_ms.
      const first = t.embedding === null;
      if (!first && ts - t.embeddedAt < a.refresh_ms) continue;
      if ((first || nearAnother(t, established, a.near)) && cleanCrop(high[j]!, high, low)) want[j] = 1;
    }
    return high.filter((_, j) => want[j] === 1);
  }

  /**
   * The last chance before a detection starts a new track: tracks unmatched this frame that have
   * an embedding take leftover detections that look like them (similarity ≥ `reid_similarity`)
   * and lie within their reach (`near` box heights per second unseen, at least one), one optimal
   * assignment on 1 − similarity. This is what re-finds a person whose predicted box ran off while
   * they were hidden behind someone, where IoU no longer can.
   */
  private reidentify(established: readonly Track[], leftover: Detection[], seen: Map<Detection, Float32Array>, ts: number,
    high: readonly Detection[], low: readonly Detection[]): Detection[] {
    const a = this.config.appearance;
    const tracks = established.filter((t) => t.embedding !== null && t.lastSeen !== ts);
    const dets = leftover.filter((d) => seen.has(d));
    if (tracks.length === 0 || dets.length === 0) return leftover;
    const rows = tracks.length;
    const cols = dets.length;
    const cost = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      const t = tracks[i]!;
      for (let j = 0; j < cols; j++) {
        const d = dets[j]!;
        const sim = cosine(t.embedding!, seen.get(d)!);
        const ok = sim >= a.reid_similarity && withinReach(t, d.box, a.near, ts) && (this.config.class_agnostic || d.classId === t.classId);
        cost[i * cols + j] = ok ? 1 - sim : GATED;
      }
    }
    const assigned = this.solver.solve(cost, rows, cols);
    const taken = new Set<Detection>();
    for (let i = 0; i < rows; i++) {
      const j = assigned[i]!;
      if (j < 0 || cost[i * cols + j]! >= GATED / 2) continue;
      const t = tracks[i]!;
      const d = dets[j]!;
      this.hit(t, d, ts);
      if (cleanCrop(d, high, low)) this.remember(t, seen.get(d)!, d.score, ts);
      taken.add(d);
      this.appearanceStats.reidentified += 1;
    }
    return taken.size === 0 ? leftover : leftover.filter((d) => !taken.has(d));
  }

  /** Folds a crop matched to `t` into its embedding (Deep OC-SORT's confidence-weighted EMA). */
  private remember(t: Track, v: Float32Array, score: number, ts: number): void {
    t.embedding = t.embedding === null ? Float32Array.from(v) : blendEmbedding(t.embedding, v, score, this.config.appearance.ema, this.config.high_score);
    t.embeddedAt = ts;
  }
}

/** Another track's centre within `heights` of `t`'s predicted box height: the two may meet soon. */
function nearAnother(t: Track, tracks: readonly Track[], heights: number): boolean {
  const [x1, y1, x2, y2] = t.predicted;
  const cx = (x1 + x2) / 2;
  const cy = (y1 + y2) / 2;
  const reach = heights * (y2 - y1);
  for (const o of tracks) {
    if (o === t) continue;
    const b = o.predicted;
    if (Math.hypot((b[0] + b[2]) / 2 - cx, (b[1] + b[3]) / 2 - cy) <= reach) return true;
  }
  return false;
}

/** The box's centre within `heights` of the track's last observed box height per second unseen (at least one). */
function withinReach(t: Track, box: Readonly<Box>, heights: number, ts: number): boolean {
  const o = t.observed;
  const reach = heights * (o[3] - o[1]) * Math.max(1, (ts - t.lastSeen) / 1000);
  return Math.hypot((box[0] + box[2] - o[0] - o[2]) / 2, (box[1] + box[3] - o[1] - o[3]) / 2) <= reach;
}

/** The detection overlaps no other: its crop shows one object, fit to describe a track. */
function cleanCrop(d: Detection, high: readonly Detection[], low: readonly Detection[]): boolean {
  for (const o of high) if (o !== d && iou(o.box, d.box) > 0) return false;
  for (const o of low) if (iou(o.box, d.box) > 0) return false;
  return true;
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
