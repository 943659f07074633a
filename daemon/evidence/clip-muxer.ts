import { EncodedPacket, EncodedVideoPacketSource, Mp4OutputFormat, Output, StreamTarget, type StreamTargetChunk } from 'mediabunny';
import type { TrackConfig } from '../video/access-unit.js';

/**
 * Access units into an MP4 without re-encoding (mediabunny). Two layouts: `fast-start` (moov before
 * the media, one file a browser plays as soon as the head arrives: event clips) and `fragmented`
 * (fMP4: an init segment, then moof+mdat fragments that start on keyframes: what Media Source takes
 * for a live view). Both write strictly in order, so the bytes can be hashed as they go out.
 *
 * Timestamps: the parser's appsink gives no buffer timestamps, so `ptsMs` follows decode order.
 * Units go to mediabunny in decode order, a GOP (key to key) at a time; within a GOP whose picture
 * order counts (`poc`, video/poc.ts) are out of decode order (B-frames), the picture of POC rank r
 * is shown at the r-th of the GOP's `ptsMs` values less the first unit's: evenly spaced for files,
 * the pull clock for live sources. mediabunny derives decode times and writes the composition
 * offsets (ctts / trun) from those presentation times. Units without `poc` keep decode order.
 */

/** What the muxer reads of an access unit (AccessUnit has it). */
export interface MuxUnit {
  readonly data: Buffer;
  readonly key: boolean;
  readonly ptsMs: number;
  /** Presentation order within the GOP (AccessUnit.poc); absent: decode order. */
  readonly poc?: number | undefined;
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
  /**
   * The GOP being received, held back until the next key (or the end): the presentation order of
   * its pictures, and the last one's duration, are known only then.
   */
  private gop: MuxUnit[] = [];
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
    if (unit.key) await this.writeGop(unit.ptsMs);
    this.gop.push(unit);
  }

  /** Writes the held GOP and the index; resolves once the last byte went to the sink. */
  async finish(): Promise<MuxResult> {
    if (this.started === null) throw new Error('an empty clip cannot be muxed');
    try {
      await this.started;
      await this.writeGop(null);
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

  /**
   * Writes the held GOP in decode order. Its presentation slots are its `ptsMs` values in rising
   * order, each after the end of the one before (a step that is zero or negative, a pull-time clock
   * that stood still, would break the index: the last good step stands in); the last slot lasts
   * until `nextPtsMs` (the next key's), or one step at the end.
   */
  private async writeGop(nextPtsMs: number | null): Promise<void> {
    const gop = this.gop;
    if (gop.length === 0) return;
    this.gop = [];
    const n = gop.length;
    const slots = new Float64Array(n);
    for (let i = 0; i < n; i++) slots[i] = gop[i]!.ptsMs - this.firstPtsMs;
    slots.sort();
    const next = nextPtsMs === null ? null : nextPtsMs - this.firstPtsMs;
    const starts = new Float64Array(n);
    const steps = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const stepMs = k + 1 < n ? slots[k + 1]! - slots[k]! : next === null ? 0 : next - slots[k]!;
      const step = stepMs > 0 ? stepMs : this.lastStepMs;
      this.lastStepMs = step;
      starts[k] = Math.max(slots[k]!, this.endMs);
      steps[k] = step;
      this.endMs = starts[k]! + step;
    }
    const rank = presentationRanks(gop);
    for (let i = 0; i < n; i++) {
      const k = rank === null ? i : rank[i]!;
      await this.write(gop[i]!, starts[k]!, steps[k]!);
    }
  }

  private async write(unit: MuxUnit, ts: number, step: number): Promise<void> {
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
  }
}

/**
 * Each unit's place in presentation order (its POC rank within the GOP, ties by decode order), or
 * null when that is decode order: POCs in decode order, or some unit without one.
 */
export function presentationRanks(gop: readonly MuxUnit[]): Int32Array | null {
  let inOrder = true;
  for (let i = 0; i < gop.length; i++) {
    const poc = gop[i]!.poc;
    if (poc === undefined) return null;
    if (i > 0 && poc < gop[i - 1]!.poc!) inOrder = false;
  }
  if (inOrder) return null;
  const byPoc = Array.from(gop.keys()).sort((a, b) => gop[a]!.poc! - gop[b]!.poc! || a - b);
  const rank = new Int32Array(gop.length);
  byPoc.forEach((unit, r) => { rank[unit] = r; });
  return rank;
}
