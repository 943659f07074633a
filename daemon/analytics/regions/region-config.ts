import type { StreamConfig } from '../../config/schema.js';
import type { FullFrame } from '../../video/full-frame.js';
import type { DetectorPort } from '../ports.js';
import { RegionPass } from './region-pass.js';

/**
 * A stream's region pass from its `detection` block, or null when it is off (and then nothing
 * else is made: `cropPort` is called only for a pass that runs).
 */
export function regionPassFor(config: StreamConfig, input: { width: number; height: number }, fullFrame: () => FullFrame | null,
  cropPort?: () => DetectorPort | undefined): RegionPass | null {
  if (config.detection.regions === 'off') return null;
  const crops = cropPort?.();
  return new RegionPass({
    fullFrame, modelWidth: input.width, modelHeight: input.height, maxRegions: config.detection.max_regions, motionThreshold: config.motion.threshold,
    scanMs: config.detection.scan_s * 1000,
    ...(crops !== undefined ? { cropPort: crops } : {}),
  });
}
