import type { Config } from '../config/schema.js';

/**
 * Whether stream `streamId` needs the full-resolution branch (pipeline.ts): the console shows
 * camera-size pictures of every stream, and an evidence snapshot is taken of the full frame of any
 * rule whose severity gets one. Without either the branch would only cost conversion (on a Jetson,
 * a VIC copy of every analysed frame); `vigilctl snapshot` adds it on demand (docs/stream-reconnect.md).
 */
export function fullFramesWanted(cfg: Pick<Config, 'console' | 'evidence' | 'rules'>, streamId: string): boolean {
  if (cfg.console.enabled) return true;
  const { evidence } = cfg;
  return evidence.enabled && cfg.rules.some((r) => r.stream === streamId && evidence.severities.includes(r.severity));
}
