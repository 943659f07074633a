/**
 * Compressed video as the parser hands it out, before the decoder: what event clips (evidence) and
 * the console's live view are made of, without re-encoding. The stream delivers every access unit
 * of a coded source to its listeners (VideoStream.onAccessUnit); test sources have none.
 */

export type VideoCodec = 'h264' | 'h265';

/** What a decoder needs before the first access unit; changes only with a new pipeline or new headers. */
export interface TrackConfig {
  readonly codec: VideoCodec;
  /** The avcC / hvcC record from the parser's caps (`codec_data`): SPS/PPS(/VPS) in MP4 form. */
  readonly description: Buffer;
  /** RFC 6381 codec string (`avc1.64001f`, `hvc1.1.6.L93.B0`), for MP4 and Media Source. */
  readonly codecString: string;
  /** Coded size in pixels, from the parser's caps. */
  readonly width: number;
  readonly height: number;
  /** Frame rate from the caps (0 where the stream gives none). */
  readonly fps: number;
}

export interface AccessUnit {
  readonly streamId: string;
  /** One access unit in MP4 form: NAL units each prefixed by a 4-byte big-endian length. */
  readonly data: Buffer;
  /** Starts a GOP (IDR / IRAP): a clip or a live view may start here. */
  readonly key: boolean;
  /**
   * Presentation time in ms, increasing within one epoch. gstreamer-superficial hands out no
   * buffer timestamps, so this is derived (frame count over the caps' frame rate for files, the
   * pull's monotonic time for live sources); streams with B-frames are not reordered.
   */
  readonly ptsMs: number;
  /**
   * Picture order (video/poc.ts): orders the pictures of one GOP (key to key) for presentation,
   * where `ptsMs` follows decode order. Absent when the stream's POC is not read (H.264
   * pic_order_cnt_type 1, unreadable headers) or before the first key after a gap. Written
   * `undefined` rather than left out, so every access unit has the same shape (no per-unit spread).
   */
  readonly poc?: number | undefined;
  /** Wall clock (ms since epoch) when it was pulled: the clock of Frame.ts and of event times. */
  readonly wallMs: number;
  /**
   * Changes with every pipeline (re)start and every change of `track`: access units of different
   * epochs never go into one MP4 track.
   */
  readonly epoch: number;
  readonly track: TrackConfig;
}

export type AccessUnitListener = (au: AccessUnit) => void;
