import type { PresenceRuleConfig } from '../config/schema.js';
import type { Detection } from '../inference/types.js';
import { bottomCentre, pointInPolygon } from './geometry.js';
import type { RuleHit } from './rules/types.js';

export type { RuleHit } from './rules/types.js';

/**
 * `presence`: objects of the given classes, above a score, optionally inside a zone, seen in
 * `min_frames` consecutive analysed frames. One event per activity: after firing, the rule stays
 * quiet for `cooldown_s` however many frames keep matching.
 */
export class PresenceRule {
  private consecutive = 0;
  private lastFired = Number.NEGATIVE_INFINITY;
  private readonly classes: ReadonlySet<string>;

  constructor(readonly config: PresenceRuleConfig) {
    this.classes = new Set(config.classes);
  }

  matches(d: Detection): boolean {
    if (d.score < this.config.min_score || !this.classes.has(d.label)) return false;
    return this.config.zone === undefined || pointInPolygon(bottomCentre(d.box), this.config.zone);
  }

  evaluate(ts: number, detections: readonly Detection[]): RuleHit | null {
    const objects = detections.filter((d) => this.matches(d));
    if (objects.length === 0) {
      this.consecutive = 0;
      return null;
    }
    this.consecutive += 1;
    if (this.consecutive < this.config.min_frames) return null;
    if (ts - this.lastFired < this.config.cooldown_s * 1000) return null;
    this.lastFired = ts;
    return { facts: { kind: 'presence' }, ruleId: this.config.id, streamId: this.config.stream, severity: this.config.severity, ts, objects };
  }
}
