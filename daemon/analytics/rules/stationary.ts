import type { StationaryRuleConfig } from '../../config/schema.js';
import { pointInPolygon, type Point } from '../geometry.js';
import { TrackRule } from './base.js';
import { distance } from './geometry.js';
import type { RuleInput, RuleOutput } from './types.js';

interface Rest {
  /** Where the anchor settled, and since when. */
  at: Point;
  since: number;
  /** `held`: long enough, but the schedule or cooldown kept it from starting; asked once per rest. */
  state: 'settling' | 'open' | 'held';
}

/**
 * `stationary`: a track whose anchor stays within `max_move` of where it settled for
 * `stationary_s` (a left bag, a stopped vehicle). Measured from the settling point rather than
 * frame to frame, so a slow creep is movement. The activity closes when the object moves off,
 * leaves the zone or is gone; a lost track keeps its state (a parked car hidden by a passing van).
 */
export class StationaryRule extends TrackRule<StationaryRuleConfig> {
  private polygon: Point[] | null = null;
  private radius = 0;
  private readonly rests = new Map<number, Rest>();

  protected resize(): void {
    this.polygon = this.config.zone ? this.pixels(this.config.zone) : null;
    this.radius = this.pixelLength(this.config.max_move);
  }

  protected step({ ts, tracks, removed }: RuleInput): RuleOutput[] {
    const out: RuleOutput[] = [];
    for (const t of tracks) {
      if (!this.qualifies(t, ts)) continue;
      const p = this.anchor(t);
      const rest = this.rests.get(t.id);
      if (this.polygon && !pointInPolygon(p, this.polygon)) {
        if (rest) this.close(t.id, rest, ts, 'exit', out);
        continue;
      }
      if (!rest || distance(rest.at, p) > this.radius) {
        if (rest) this.close(t.id, rest, ts, 'moved', out);
        this.rests.set(t.id, { at: p, since: ts, state: 'settling' });
        continue;
      }
      if (rest.state === 'settling' && ts - rest.since >= this.config.stationary_s * 1000) {
        rest.state = this.mayStart(`${t.id}/stationary`, ts) ? 'open' : 'held';
        if (rest.state === 'open') {
          out.push({ type: 'start', key: `${t.id}`, hit: this.hit(ts, [t], { kind: 'stationary', track_id: t.id, stationary_s: (ts - rest.since) / 1000 }) });
        }
      }
    }
    for (const id of removed) {
      const rest = this.rests.get(id);
      if (rest) this.close(id, rest, ts, 'track_lost', out);
      this.forget(`${id}/`);
    }
    return out;
  }

  private close(id: number, rest: Rest, ts: number, reason: 'exit' | 'moved' | 'track_lost', out: RuleOutput[]): void {
    this.rests.delete(id);
    if (rest.state === 'open') out.push({ type: 'end', key: `${id}`, ts, reason, details: { stationary_s: (ts - rest.since) / 1000 } });
  }
}
