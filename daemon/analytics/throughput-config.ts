import type { StreamConfig } from '../config/schema.js';
import type { LaneOptions } from '../inference/scheduler.js';
import { MotionGate } from './motion-gate.js';

/** A stream's place in its model's inference scheduler, from its config. */
export function schedulerLaneOptions(config: StreamConfig): LaneOptions {
  // A file analysed as fast as possible waits for its consumer: no newer frame exists to skip to.
  const paced = config.uri.startsWith('file://') && !config.realtime;
  return { streamId: config.id, priority: config.priority, fps: config.fps, skipStale: !paced };
}

/** Motion gating needs the motion detector; without it every frame is inferred. */
export function motionGateFor(config: StreamConfig): MotionGate | null {
  const { gate } = config.motion;
  if (!config.motion.enabled || !gate.enabled) return null;
  return new MotionGate({ keepaliveMs: gate.keepalive_s * 1000, holdMs: gate.hold_s * 1000 });
}
