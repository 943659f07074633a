import type { RuleConfig } from '../../config/schema.js';
import { CountRule } from './count.js';
import { LineRule } from './line.js';
import { PresenceOnFrames, PresenceOnObjects } from './presence.js';
import { StationaryRule } from './stationary.js';
import type { Rule } from './types.js';
import { ZoneRule } from './zone.js';

export { CountRule, LineRule, PresenceOnFrames, PresenceOnObjects, StationaryRule, ZoneRule };
export type { EndReason, Rule, RuleHit, RuleInput, RuleOutput } from './types.js';

/** One rule object per configured rule; each holds its own per-stream state. */
export function buildRule(config: RuleConfig): Rule {
  switch (config.kind) {
    case 'presence': return config.count === 'objects' ? new PresenceOnObjects(config) : new PresenceOnFrames(config);
    case 'zone': return new ZoneRule(config);
    case 'line': return new LineRule(config);
    case 'count': return new CountRule(config);
    case 'stationary': return new StationaryRule(config);
  }
}

/** Whether a rule needs tracks; a stream whose rules are all frame-based runs no tracker. */
export const usesTracks = (config: RuleConfig): boolean => config.kind !== 'presence' || config.count === 'objects';
