import type { CountRuleConfig } from '../../config/schema.js';
import { pointInPolygon, type Point } from '../geometry.js';
import type { TrackedObject } from '../tracker/index.js';
import { TrackRule } from './base.js';
import type { RuleInput, RuleOutput } from './types.js';

/**
 * `count`: qualifying tracks inside a zone. A lost track still counts where it was last seen until
 * the tracker removes it, so a person hidden for a moment does not make the count dip and a
 * crowding activity close and reopen. `above` is open while the count exceeds it, `below` while the
 * count is under it; `every_s` adds an instant event with the count at that period.
 */
export class CountRule extends TrackRule<CountRuleConfig> {
  private polygon: Point[] = [];
  private readonly inside = new Map<number, TrackedObject>();
  private open = { above: false, below: false };
  private nextPeriodic: number | null = null;
  /** The latest count; for status and tests. */
  count = 0;

  protected resize(): void {
    this.polygon = this.pixels(this.config.zone);
  }

  protected step({ ts, tracks, removed }: RuleInput): RuleOutput[] {
    for (const t of tracks) {
      if (!this.qualifies(t, ts)) continue;
      if (pointInPolygon(this.anchor(t), this.polygon)) this.inside.set(t.id, t);
      else this.inside.delete(t.id);
    }
    for (const id of removed) this.inside.delete(id);
    this.count = this.inside.size;

    const out: RuleOutput[] = [];
    const { above, below, every_s: every } = this.config;
    if (above !== undefined) this.threshold('above', above, this.count > above, ts, out);
    if (below !== undefined) this.threshold('below', below, this.count < below, ts, out);
    if (every !== undefined && (this.nextPeriodic === null || ts >= this.nextPeriodic)) {
      // Periods are counted from the first frame; a long gap gives one late count, not a burst.
      this.nextPeriodic = this.nextPeriodic === null ? ts + every * 1000 : Math.max(this.nextPeriodic + every * 1000, ts);
      if (this.mayStart('periodic', ts)) {
        out.push({ type: 'instant', hit: this.hit(ts, [...this.inside.values()], { kind: 'count', trigger: 'periodic', count: this.count }) });
      }
    }
    return out;
  }

  private threshold(which: 'above' | 'below', threshold: number, holds: boolean, ts: number, out: RuleOutput[]): void {
    if (holds && !this.open[which]) {
      if (!this.mayStart(which, ts)) return;
      this.open[which] = true;
      out.push({ type: 'start', key: which, hit: this.hit(ts, [...this.inside.values()], { kind: 'count', trigger: which, count: this.count, threshold }) });
    } else if (!holds && this.open[which]) {
      this.open[which] = false;
      out.push({ type: 'end', key: which, ts, reason: 'cleared', details: { count: this.count } });
    }
  }
}
