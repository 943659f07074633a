import type { StreamConfig } from '../../config/schema.js';
import type { FullFrame } from '../../video/full-frame.js';
import { RegionPass } from './region-pass.js';

/** A stream's region pass from its `detection` block, or null when it is off. */
export function regionPassFor(config: StreamConfig, input: { width: number; height: number }, fullFrame: () => FullFrame | null): RegionPass | null {
  if (config.detection.regions === 'off') return null;
  return new RegionPass({
    fullFrame, modelWidth: input.width, modelHeight: input.height, maxRegions: config.detection.max_regions, motionThreshold: config.motion.threshold,
  });
}
