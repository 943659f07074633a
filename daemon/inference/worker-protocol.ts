import type { DetectorOptions, InputSize } from './detector.js';
import type { Detection, DetectorInfo, Placement } from './types.js';
import type { BatchProfile } from './session.js';

/** What the inference worker is started with (`workerData`). */
export interface WorkerInit {
  options: DetectorOptions;
  /** pino level name for the worker's log lines, which travel to the main thread's logger. */
  logLevel: string;
  /** The model's batch range (max_batch above 1), which the parent writes into TensorRT's environment. */
  batchProfile?: BatchProfile;
}

export type ToWorker =
  | {
    type: 'detect';
    id: number;
    /**
     * The model's input tensor for `placements.length` frames (a batch), filled by the parent (see
     * worker-detector.ts) and transferred, not copied; the worker transfers it back with the result.
     */
    input: ArrayBuffer;
    placements: Placement[];
    scoreThreshold?: number;
  }
  | { type: 'close' };

export interface WireError {
  name: string;
  message: string;
}

export type FromWorker =
  | { type: 'ready'; info: DetectorInfo; labels: string[]; inputSize: InputSize; maxBatch: number }
  | { type: 'load-failed'; error: WireError }
  /** One detection list per frame of the request, in order. */
  /**
   * `busyMs`: the thread's time on this request, from taking it to sending this; `idleMs`: from
   * sending the previous result to taking this request (time the model waited for a frame).
   */
  | { type: 'result'; id: number; detections: Detection[][]; runMs: number; postMs: number; busyMs: number; idleMs: number; input: ArrayBuffer }
  | { type: 'failed'; id: number; error: WireError; input: ArrayBuffer }
  | { type: 'log'; level: number; record: Record<string, unknown> }
  | { type: 'closed' };
