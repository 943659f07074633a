/**
 * A frame as it leaves GStreamer: already scaled (aspect kept) to fit the analysis size and
 * converted to a 32-bit packed format, so rows are never padded and the pixel at (x, y) is at
 * `(y * width + x) * 4`. `sourceWidth/sourceHeight` are the camera's own size, which boxes are
 * mapped back to.
 */
export interface Frame {
  readonly streamId: string;
  /** Increments for every frame pulled from this stream's pipeline, across restarts. */
  readonly seq: number;
  /** Wall-clock time (ms since epoch) when the frame was pulled; appsink gives no timestamps. */
  readonly ts: number;
  readonly format: 'BGRx' | 'RGBx' | 'BGRA' | 'RGBA';
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
  readonly sourceWidth: number;
  readonly sourceHeight: number;
}

export type StreamState = 'starting' | 'playing' | 'backoff' | 'stopped' | 'ended' | 'disabled';

export interface StreamStatus {
  id: string;
  state: StreamState;
  decoder: string | null;
  framesPulled: number;
  framesDropped: number;
  restarts: number;
  lastError: string | null;
  fps: number;
  /** The stream's URI with credentials removed; safe to log and publish. */
  uri?: string;
  /** Codec being decoded ('h264' | 'h265'); absent for test sources. */
  codec?: string;
  /** The camera's own frame size, once the first frame has been decoded. */
  sourceWidth?: number;
  sourceHeight?: number;
  /** Wall-clock time (ms since epoch) of the newest frame pulled; absent until the first. */
  lastFrameAt?: number;
  /**
   * Times the camera changed its frame size mid-stream (absent until the first change), and the
   * frames held back around those changes because their size was uncertain.
   */
  resolutionChanges?: number;
  framesWithheld?: number;
  /** The access-unit branch (clips, live view), when the stream has one: what it pulled and for how many listeners. */
  accessUnits?: { pulled: number; keyframes: number; unusable: number; listeners: number };
  /**
   * Isolated streams only (docs/process-isolation.md): the stream process decoding it now (null
   * between processes), processes started, and those that ended with a signal.
   */
  process?: { pid: number | null; spawned: number; crashed: number };
}
