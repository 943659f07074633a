import type { Frame } from '../video/frame.js';
import type { Detection } from '../inference/types.js';
import type { MotionResult } from '../motion/motion-detector.js';
import type { EndReason, RuleHit } from './rules/types.js';
import type { ActivityEndFacts } from '../events/event-kinds.js';

/**
 * The narrow interfaces the analysis loop depends on. The composition root adapts the concrete
 * video, inference and store modules to them, so this loop can be read (and tested) on its own.
 */
export interface FrameSource {
  /** Yields the newest frame each time the consumer is ready; older ones are dropped upstream. */
  frames(signal: AbortSignal): AsyncIterable<Frame>;
}

export interface DetectorPort {
  detect(frame: Frame): Promise<Detection[]>;
}

export interface MotionPort {
  /** The result may be reused by the next call: read it before then. */
  detect(frame: Frame): MotionResult;
}

/** The close of an activity whose start was recorded as event `eventId`. */
export interface ActivityEnd {
  eventId: string;
  ruleId: string;
  streamId: string;
  /** Frame times (ms since epoch) of the start and the end. */
  startedTs: number;
  ts: number;
  reason: EndReason;
  /** What the end adds to the start's facts (seconds inside, still, the closing count). */
  details?: ActivityEndFacts;
}

/** What an open activity looks like now; sent to the hub as a throttled `update` of its event. */
export interface ActivityUpdate {
  eventId: string;
  ruleId: string;
  streamId: string;
  /** Frame time, ms since epoch. */
  ts: number;
  objects: Detection[];
  /** The camera's frame size, which the boxes are in (and are clamped to in messages). */
  size?: { width: number; height: number };
}

export interface EventSink {
  /**
   * Persists the event (and queues it for the hub); returns its id. `opens`: the event is the start
   * of an activity that an `end` (and updates) will follow. Throws only if storage fails.
   */
  record(hit: RuleHit, opens?: boolean): string;
  /** Queues an update of an open activity's event. Optional: a sink without it sends none. Throws only if storage fails. */
  update?(update: ActivityUpdate): void;
  /** Marks the activity's event ended. Optional: a sink without it keeps start events only. Throws only if storage fails. */
  end?(end: ActivityEnd): void;
}
