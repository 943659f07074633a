import type { ZoneRuleConfig } from '../../config/schema.js';
import { pointInPolygon, type Point } from '../geometry.js';
import type { TrackedObject } from '../tracker/index.js';
import { TrackRule } from './base.js';
import { signedDistance } from './geometry.js';
import type { RuleInput, RuleOutput } from './types.js';

/** The edge band when none is configured: a few pixels of box jitter, as the line rule's default margin. */
const DEFAULT_EDGE_PX = 8;

interface Stay {
  since: number;
  last: TrackedObject;
  enterOpen: boolean;
  /** `held`: inside long enough, but the schedule or cooldown kept it from starting; asked once per stay. */
  dwell: 'waiting' | 'open' | 'held';
}

/**
 * `zone`: a polygon and what happens in it. Per track: `enter` opens an activity that the exit
 * closes (one event per stay); `exit` alone is an instant event at the exit; `dwell` opens once a
 * track has been inside `dwell_s` and closes when it leaves. Zone-wide: `presence` is open while
 * any qualifying track is inside. Only matched positions move a track: a lost track keeps its last
 * state, so one lost and re-found inside is the same stay, with no second enter.
 */
export class ZoneRule extends TrackRule<ZoneRuleConfig> {
  private polygon: Point[] = [];
  /** The polygon closed (first point repeated), for distances to its edge. */
  private ring: Point[] = [];
  private margin = 0;
  private readonly stays = new Map<number, Stay>();
  private occupied = false;
  private readonly wants: ReadonlySet<string>;

  constructor(config: ZoneRuleConfig) {
    super(config);
    this.wants = new Set(config.events);
  }

  protected resize(): void {
    this.polygon = this.pixels(this.config.zone);
    this.ring = [...this.polygon, this.polygon[0]!];
    this.margin = this.config.margin === undefined ? DEFAULT_EDGE_PX : this.pixelLength(this.config.margin);
  }

  protected step({ ts, tracks, removed }: RuleInput): RuleOutput[] {
    const out: RuleOutput[] = [];
    for (const t of tracks) {
      if (!this.qualifies(t, ts)) continue;
      const p = this.anchor(t);
      const stay = this.stays.get(t.id);
      // Hysteresis: within `margin` of the edge a track keeps the side it was on.
      const onEdge = this.margin > 0 && Math.abs(signedDistance(p, this.ring)) <= this.margin;
      const inside = onEdge ? stay !== undefined : pointInPolygon(p, this.polygon);
      if (inside && !stay) this.enter(t, ts, out);
      else if (inside && stay) {
        stay.last = t;
        this.dwell(t, stay, ts, out);
      } else if (!inside && stay) this.leave(t.id, stay, ts, 'exit', out);
    }
    for (const id of removed) {
      const stay = this.stays.get(id);
      if (stay) this.leave(id, stay, ts, 'track_lost', out);
      this.forget(`${id}/`);
    }
    this.updatePresence(ts, out);
    return out;
  }

  private enter(t: TrackedObject, ts: number, out: RuleOutput[]): void {
    const stay: Stay = { since: ts, last: t, enterOpen: false, dwell: 'waiting' };
    this.stays.set(t.id, stay);
    if (this.wants.has('enter') && this.mayStart(`${t.id}/enter`, ts)) {
      stay.enterOpen = true;
      out.push({ type: 'start', key: `enter/${t.id}`, hit: this.hit(ts, [t], { kind: 'zone', trigger: 'enter', track_id: t.id }) });
    }
    this.dwell(t, stay, ts, out);
  }

  private dwell(t: TrackedObject, stay: Stay, ts: number, out: RuleOutput[]): void {
    if (!this.wants.has('dwell') || stay.dwell !== 'waiting' || ts - stay.since < this.config.dwell_s * 1000) return;
    stay.dwell = this.mayStart(`${t.id}/dwell`, ts) ? 'open' : 'held';
    if (stay.dwell === 'held') return;
    out.push({ type: 'start', key: `dwell/${t.id}`, hit: this.hit(ts, [t], { kind: 'zone', trigger: 'dwell', track_id: t.id, dwell_s: (ts - stay.since) / 1000 }) });
  }

  private leave(id: number, stay: Stay, ts: number, reason: 'exit' | 'track_lost', out: RuleOutput[]): void {
    this.stays.delete(id);
    const details = { inside_s: (ts - stay.since) / 1000 };
    if (stay.enterOpen) out.push({ type: 'end', key: `enter/${id}`, ts, reason, details });
    if (stay.dwell === 'open') out.push({ type: 'end', key: `dwell/${id}`, ts, reason, details });
    // A track that vanished inside did not walk out: only a seen exit is reported as one.
    if (reason === 'exit' && this.wants.has('exit') && !this.wants.has('enter') && this.mayStart(`${id}/exit`, ts)) {
      out.push({ type: 'instant', hit: this.hit(ts, [stay.last], { kind: 'zone', trigger: 'exit', track_id: id, ...details }) });
    }
  }

  private updatePresence(ts: number, out: RuleOutput[]): void {
    if (!this.wants.has('presence')) return;
    const occupied = this.stays.size > 0;
    if (occupied && !this.occupied) {
      if (!this.mayStart('presence', ts)) return;
      this.occupied = true;
      out.push({ type: 'start', key: 'presence', hit: this.hit(ts, [...this.stays.values()].map((s) => s.last), { kind: 'zone', trigger: 'presence', count: this.stays.size }) });
    } else if (!occupied && this.occupied) {
      this.occupied = false;
      out.push({ type: 'end', key: 'presence', ts, reason: 'cleared' });
    }
  }
}
