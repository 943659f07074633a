import type { Config } from '../config/schema.js';

/**
 * Whether stream `streamId` needs the full-resolution branch (pipeline.ts): the console shows
 * camera-size pictures of every stream, and an evidence snapshot is taken of the full frame of any
 * rule whose severity gets one; region detection crops it. Without these the branch would only cost
 * conversion (on a Jetson, a VIC copy of every analysed frame); `vigilctl snapshot` adds it on demand (docs/stream-reconnect.md).
 */
export function fullFramesWanted(cfg: Pick<Config, 'console' | 'evidence' | 'rules'> & Partial<Pick<Config, 'streams'>>, streamId: string): boolean {
  if (cfg.console.enabled) return true;
  // A stream without a model runs no detection, so no regions either.
  const stream = cfg.streams?.find((s) => s.id === streamId);
  if (stream !== undefined && stream.model !== undefined && stream.detection.regions !== 'off') return true;
  const { evidence } = cfg;
  return evidence.enabled && cfg.rules.some((r) => r.stream === streamId && evidence.severities.includes(r.severity));
}
