import type { DetectorOptions, InputSize } from './detector.js';
import type { Detection, DetectorInfo } from './types.js';
import type { Frame } from '../video/frame.js';

/** What the inference worker is started with (`workerData`). */
export interface WorkerInit {
  options: DetectorOptions;
  /**
   * Shared frame slots, each big enough for one model-input frame: the main thread copies a frame
   * into a free slot and the worker reads it in place, so no frame buffer is allocated per frame.
   */
  slots: SharedArrayBuffer[];
  /** pino level name for the worker's log lines, which travel to the main thread's logger. */
  logLevel: string;
}

export type FrameMeta = Pick<Frame, 'streamId' | 'seq' | 'ts' | 'format' | 'width' | 'height' | 'sourceWidth' | 'sourceHeight'>;

export type ToWorker =
  | {
    type: 'detect';
    id: number;
    frame: FrameMeta;
    /** Index into `WorkerInit.slots`, or null when the pixels travel in `data` (no slot was free). */
    slot: number | null;
    data?: Uint8Array;
    scoreThreshold?: number;
  }
  | { type: 'close' };

export interface WireError {
  name: string;
  message: string;
}

export type FromWorker =
  | { type: 'ready'; info: DetectorInfo; labels: string[]; inputSize: InputSize }
  | { type: 'load-failed'; error: WireError }
  | { type: 'result'; id: number; detections: Detection[]; preMs: number; runMs: number; postMs: number }
  | { type: 'failed'; id: number; error: WireError }
  | { type: 'log'; level: number; record: Record<string, unknown> }
  | { type: 'closed' };
