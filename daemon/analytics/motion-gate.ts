import type { MotionResult } from '../motion/motion-detector.js';

export interface MotionGateOptions {
  /** While the scene is still, one inference at least this often (ms of frame time). */
  keepaliveMs: number;
  /** Inference goes on this long after the last frame with motion (ms of frame time). */
  holdMs: number;
}

export type GateDecision = 'motion' | 'hold' | 'keepalive' | 'still';

/**
 * Decides, frame by frame, whether a stream's frame is worth an inference. The motion detector is
 * cheap and sees every frame, so the frame that first shows motion is the one inferred: an object
 * entering a still scene is looked at on its first visible frame, not at the next keep-alive.
 * `hold` covers objects that stop or move too slowly to register; `keepalive` bounds how long a
 * still scene goes unexamined (a parked car, a person standing still since before the start).
 */
export class MotionGate {
  private lastMotion = Number.NEGATIVE_INFINITY;
  private lastInference = Number.NEGATIVE_INFINITY;
  private previousInference = Number.NEGATIVE_INFINITY;

  constructor(private readonly opts: MotionGateOptions) {}

  /** Whether to run inference on the frame at `ts` with this motion result; remembers a yes. */
  decide(ts: number, motion: MotionResult | undefined): GateDecision {
    let decision: GateDecision;
    if (motion === undefined || motion.motion) {
      // No motion result (the detector is off) gates nothing: never skip on missing evidence.
      this.lastMotion = ts;
      decision = 'motion';
    } else if (ts - this.lastMotion <= this.opts.holdMs) {
      decision = 'hold';
    } else if (ts - this.lastInference >= this.opts.keepaliveMs || ts < this.lastInference) {
      // A clock step backwards (a restarted stream, a camera's clock) must not stall inference.
      decision = 'keepalive';
    } else {
      return 'still';
    }
    this.previousInference = this.lastInference;
    this.lastInference = ts;
    return decision;
  }

  /** The inference decided on did not run (skipped under overload): the keep-alive is still due. */
  missed(): void {
    this.lastInference = this.previousInference;
  }
}
