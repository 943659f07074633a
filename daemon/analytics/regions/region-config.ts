import type { StreamConfig } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import type { FullFrame } from '../../video/full-frame.js';
import { RegionPass } from './region-pass.js';

/**
 * A stream's region pass from its `detection` block, or null when it is off. Regions come from the
 * motion detector's moving boxes, so a stream with motion off gets none (and a warning saying so).
 */
export function regionPassFor(config: StreamConfig, input: { width: number; height: number }, fullFrame: () => FullFrame | null,
  log: Logger): RegionPass | null {
  if (config.detection.regions === 'off') return null;
  if (!config.motion.enabled) {
    log.warn({ stream: config.id }, 'detection.regions is motion but motion.enabled is false: no regions, the whole frame only');
    return null;
  }
  return new RegionPass({ fullFrame, modelWidth: input.width, modelHeight: input.height, maxRegions: config.detection.max_regions });
}
