import { EncodedPacket, EncodedVideoPacketSource, Mp4OutputFormat, Output, StreamTarget, type StreamTargetChunk } from 'mediabunny';
import type { TrackConfig } from '../video/access-unit.js';

/**
 * Access units into an MP4 without re-encoding (mediabunny). Two layouts: `fast-start` (moov before
 * the media, one file a browser plays as soon as the head arrives: event clips) and `fragmented`
 * (fMP4: an init segment, then moof+mdat fragments that start on keyframes: what Media Source takes
 * for a live view). Both write strictly in order, so the bytes can be hashed as they go out.
 *
 * Timestamps: each packet's time is its access unit's `ptsMs` less the first one's. The parser's
 * appsink gives no buffer timestamps, so a stream with B-frames keeps decode order and even spacing
 * (the decoder still reorders the pictures, the container does not know it; see docs/evidence-clips.md).
 */

/** What the muxer reads of an access unit (AccessUnit has it). */
export interface MuxUnit {
  readonly data: Buffer;
  readonly key: boolean;
  readonly ptsMs: number;
}

export type Mp4Layout = 'fast-start' | 'fragmented';

/** Where the muxer's bytes go, in file order; the returned promise is the writer's backpressure. */
export type Mp4Sink = (data: Uint8Array, position: number) => Promise<void> | void;

export interface MuxResult {
  frames: number;
  /** From the first packet's start to the last one's end. */
  durationS: number;
}

export interface ClipMuxerOptions {
  /** Fragmented layout: a new fragment starts at the first keyframe this long after the last (default 1 s). */
  fragmentS?: number;
}

/** mediabunny's codec names for ours. */
const MEDIABUNNY_CODEC = { h264: 'avc', h265: 'hevc' } as const;

export class ClipMuxer {
  private readonly output: Output;
  private readonly source: EncodedVideoPacketSource;
  private started: Promise<void> | null = null;
  /** Held back one unit: a packet's duration is known only when the next one arrives. */
  private held: MuxUnit | null = null;
  private firstPtsMs = 0;
  private lastStepMs: number;
  private frames = 0;
  private endMs = 0;
  private sinkError: unknown = null;

  constructor(private readonly track: TrackConfig, sink: Mp4Sink, layout: Mp4Layout = 'fast-start', opts: ClipMuxerOptions = {}) {
    this.lastStepMs = track.fps > 0 ? 1000 / track.fps : 100;
    const writable = new WritableStream<StreamTargetChunk>({
      write: async (chunk) => {
        try {
          await sink(chunk.data, chunk.position);
        } catch (err) {
          // Kept so finish() reports the writer's own error (ENOSPC) rather than mediabunny's wrapper.
          this.sinkError ??= err;
          throw err;
        }
      },
    });
    this.output = new Output({
      format: new Mp4OutputFormat(layout === 'fragmented'
        ? { fastStart: 'fragmented', minimumFragmentDuration: opts.fragmentS ?? 1 }
        : { fastStart: 'in-memory' }),
      target: new StreamTarget(writable),
    });
    this.source = new EncodedVideoPacketSource(MEDIABUNNY_CODEC[track.codec]);
    this.output.addVideoTrack(this.source, track.fps > 0 ? { frameRate: track.fps } : {});
  }

  /** Units in decode order; the first must be a keyframe. Rejects with the writer's error. */
  async add(unit: MuxUnit): Promise<void> {
    if (this.started === null) {
      if (!unit.key) throw new Error('a clip must start with a keyframe');
      this.firstPtsMs = unit.ptsMs;
      this.started = this.output.start();
    }
    await this.started;
    const prev = this.held;
    this.held = unit;
    if (prev) await this.write(prev, unit.ptsMs - prev.ptsMs);
  }

  /** Writes the held unit and the index; resolves once the last byte went to the sink. */
  async finish(): Promise<MuxResult> {
    if (this.started === null) throw new Error('an empty clip cannot be muxed');
    try {
      await this.started;
      const last = this.held;
      this.held = null;
      if (last) await this.write(last, this.lastStepMs);
      await this.output.finalize();
    } catch (err) {
      throw this.sinkError ?? err;
    }
    return { frames: this.frames, durationS: this.endMs / 1000 };
  }

  /** Gives up: nothing more reaches the sink. */
  async cancel(): Promise<void> {
    if (this.output.state === 'canceled' || this.output.state === 'finalized') return;
    await this.output.cancel().catch(() => undefined);
  }

  private async write(unit: MuxUnit, stepMs: number): Promise<void> {
    // A step that is zero or negative (a pull-time clock that stood still) would break the index: the caps' frame interval stands in.
    const step = stepMs > 0 ? stepMs : this.lastStepMs;
    this.lastStepMs = step;
    const startMs = unit.ptsMs - this.firstPtsMs;
    const ts = Math.max(startMs, this.endMs);
    const packet = new EncodedPacket(unit.data, unit.key ? 'key' : 'delta', ts / 1000, step / 1000);
    try {
      if (this.frames === 0) {
        await this.source.add(packet, {
          decoderConfig: {
            codec: this.track.codecString, description: this.track.description,
            codedWidth: this.track.width, codedHeight: this.track.height,
          },
        });
      } else {
        await this.source.add(packet);
      }
    } catch (err) {
      throw this.sinkError ?? err;
    }
    this.frames++;
    this.endMs = ts + step;
  }
}
