import type { LineRuleConfig } from '../../config/schema.js';
import type { Point } from '../geometry.js';
import { TrackRule } from './base.js';
import { crossesPolyline, signedDistance } from './geometry.js';
import type { RuleInput, RuleOutput } from './types.js';

type Side = 'a' | 'b';

interface Crossing {
  /** The side the anchor was last seen on outside the margin band, and where. */
  side: Side | null;
  at: Point;
}

/**
 * `line`: counts tracks whose anchor crosses a polyline. Hysteresis: within `margin` of the line a
 * point has no side, so a track must be seen clear on one side and then clear on the other, and
 * its movement between those two sightings must pass through the line itself (not round an end).
 * Jitter on the line therefore never counts, and a track lost while crossing counts when re-found
 * on the far side. Sides are followed from a track's first sighting; the crossing is reported only
 * if the track qualifies (class, score, age) by then. Each crossing is one instant event.
 */
export class LineRule extends TrackRule<LineRuleConfig> {
  private line: Point[] = [];
  private margin = 0;
  private readonly state = new Map<number, Crossing>();
  /** Crossings reported since start, per direction; for status and tests. */
  readonly counts = { a_to_b: 0, b_to_a: 0 };

  protected resize(): void {
    this.line = this.pixels(this.config.line);
    this.margin = this.pixelLength(this.config.margin);
  }

  protected step({ ts, tracks, removed }: RuleInput): RuleOutput[] {
    const out: RuleOutput[] = [];
    for (const t of tracks) {
      const p = this.anchor(t);
      const d = signedDistance(p, this.line);
      if (Math.abs(d) <= this.margin) continue;
      const side: Side = d < 0 ? 'a' : 'b';
      const st = this.state.get(t.id);
      if (!st) {
        this.state.set(t.id, { side, at: p });
        continue;
      }
      if (st.side !== null && st.side !== side && crossesPolyline(st.at, p, this.line)) {
        const direction = side === 'b' ? 'a_to_b' : 'b_to_a';
        const wanted = this.config.direction === 'both' || this.config.direction === direction;
        if (wanted && this.qualifies(t, ts) && this.mayStart(`${t.id}/${direction}`, ts)) {
          this.counts[direction] += 1;
          out.push({ type: 'instant', hit: this.hit(ts, [t], { kind: 'line', direction, track_id: t.id }) });
        }
      }
      st.side = side;
      st.at = p;
    }
    for (const id of removed) {
      this.state.delete(id);
      this.forget(`${id}/`);
    }
    return out;
  }
}
