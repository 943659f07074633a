import type { PresenceRuleConfig } from '../../config/schema.js';
import { PresenceRule } from '../presence-rule.js';
import { toPixels } from './geometry.js';
import { inSchedule } from './schedule.js';
import type { Rule, RuleInput, RuleOutput } from './types.js';

/**
 * `presence` stays frame-based, as configs written before tracking expect: detections, not tracks,
 * with `min_frames` and a rule-wide cooldown. It needs no tracker and fires on the first frame.
 */
export class PresenceOnFrames implements Rule {
  readonly id: string;
  readonly kind = 'presence' as const;
  private inner: PresenceRule | null = null;
  private size = { width: 0, height: 0 };

  constructor(readonly config: PresenceRuleConfig) {
    this.id = config.id;
  }

  evaluate({ ts, detections, sourceWidth, sourceHeight, pxReference }: RuleInput): RuleOutput[] {
    if (this.inner === null || sourceWidth !== this.size.width || sourceHeight !== this.size.height) {
      this.size = { width: sourceWidth, height: sourceHeight };
      const { zone } = this.config;
      // Rebuilt only when a zone moves with the camera's size (norm units, or px after a
      // resolution change); otherwise its min_frames count and cooldown carry on.
      if (this.inner === null || zone !== undefined) {
        this.inner = new PresenceRule(zone === undefined ? this.config : { ...this.config, zone: toPixels(zone, this.config.units, sourceWidth, sourceHeight, pxReference) });
      }
    }
    if (!inSchedule(ts, this.config.schedule)) return [];
    const hit = this.inner.evaluate(ts, detections);
    return hit ? [{ type: 'instant', hit }] : [];
  }
}
