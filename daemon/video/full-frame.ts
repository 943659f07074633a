/**
 * A decoded frame at the camera's own size, from the full-resolution branch after the decoder
 * (pipeline.ts), for snapshots. Planar I420 in GStreamer's default layout (see `i420Layout`).
 */
export interface FullFrame {
  readonly streamId: string;
  /** Wall clock (ms since epoch) when it was read: the newest decoded frame at that moment. */
  readonly ts: number;
  readonly width: number;
  readonly height: number;
  readonly format: 'I420';
  readonly data: Buffer;
}

/** Where each plane of an I420 image sits, in bytes. */
export interface I420Layout {
  readonly yStride: number;
  readonly uvStride: number;
  readonly uvWidth: number;
  readonly uvHeight: number;
  readonly uOffset: number;
  readonly vOffset: number;
  readonly size: number;
}

const up2 = (v: number): number => (v + 1) & ~1;
const up4 = (v: number): number => (v + 3) & ~3;

/**
 * GStreamer's default I420 layout (gst_video_info_set_format): rows padded to 4 bytes, chroma
 * planes of half the size rounded up. The branch ends in a sink that announces no video meta, so
 * buffers reaching it have this layout and not the decoder's own padding.
 */
export function i420Layout(width: number, height: number): I420Layout {
  const yStride = up4(width);
  const uvWidth = up2(width) / 2;
  const uvStride = up4(uvWidth);
  const uvHeight = up2(height) / 2;
  const uOffset = yStride * up2(height);
  const vOffset = uOffset + uvStride * uvHeight;
  return { yStride, uvStride, uvWidth, uvHeight, uOffset, vOffset, size: vOffset + uvStride * uvHeight };
}

/** What the newest analysed frame showed (StreamAnalyzer.latestObjects), in the pixels of width×height. */
export interface OverlayObjects {
  readonly width: number;
  readonly height: number;
  readonly objects: readonly { readonly id: number | null; readonly label: string; readonly box: readonly [number, number, number, number] }[];
}

/** Where snapshots get a stream's newest full-resolution frame and what to draw on it (the StreamSupervisor). */
export interface FullFrameSource {
  latestFullFrame(streamId: string): FullFrame | null;
  isRunning(streamId: string): boolean;
  latestObjects?(streamId: string): OverlayObjects | null;
  /**
   * For a snapshot asked for by hand: adds the full-resolution branch where nothing else needs it
   * (one pipeline restart) and waits up to `timeoutMs` for its first frame (StreamSupervisor).
   */
  ensureFullFrames?(streamId: string, timeoutMs: number): Promise<'had' | 'added' | 'timeout' | 'not running'>;
}
