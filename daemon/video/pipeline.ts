import type { Frame } from './frame.js';
import type { Codec, DecoderChoice } from './decoders.js';
import type { StreamSource } from './uri.js';

export type FrameFormat = Frame['format'];

/**
 * What the analysis wants, supplied by the detector (or by motion-only streams): the frame must
 * fit `width`×`height`. `fit` keeps the aspect ratio, so one side may be shorter (960×540 into
 * 416×416 gives 416×234) and the detector letterboxes it; `stretch` gives exactly width×height.
 */
export interface AnalysisSize {
  readonly width: number;
  readonly height: number;
  readonly resize: 'fit' | 'stretch';
  readonly format: FrameFormat;
}

export const MOTION_ONLY_ANALYSIS: AnalysisSize = { width: 320, height: 320, resize: 'fit', format: 'BGRx' };

export interface PipelineSpec {
  readonly source: StreamSource;
  /** Ignored for test sources, which need no decoder. */
  readonly decoder: DecoderChoice | null;
  /** Upper bound on frames per second reaching the appsink. */
  readonly fps: number;
  readonly analysis: AnalysisSize;
  /** Pace output by the pipeline clock (live sources and realtime files) or run as fast as possible. */
  readonly sync: boolean;
  /**
   * Back-pressure instead of dropping: the appsink blocks the pipeline until its frame is taken.
   * Only for sources that can wait (files analysed as fast as possible); a camera cannot.
   */
  readonly paced?: boolean;
  readonly rtsp: { readonly transport: 'tcp' | 'udp'; readonly latencyMs: number };
  /** Adds the access-unit branch (coded sources only): what clips and the live view are made of. */
  readonly accessUnits?: boolean;
  /** Adds the full-resolution branch after the decoder: the newest decoded frame, for snapshots. */
  readonly fullFrames?: boolean;
}

/** A property set on an element after parsing, so that its value never appears in the description. */
export interface SecretProperty {
  readonly element: string;
  readonly property: string;
  readonly value: string;
}

export interface BuiltPipeline {
  /** gst_parse_launch syntax; contains no credentials, so it may be logged. */
  readonly description: string;
  readonly secrets: readonly SecretProperty[];
}

/** Element names the stream looks up with findChild. */
export const ELEMENT = { source: 'src', sink: 'sink', probe: 'probe', accessUnits: 'au', full: 'full' } as const;

/**
 * Access units the branch's queue holds while JavaScript is slow to pull them (a GC pause, a busy
 * event loop): 8 s at 30 fps. It leaks the oldest beyond that rather than stall the decoder, and
 * its byte bound keeps a 20 Mbit/s camera's backlog to 16 MiB.
 */
export const AU_QUEUE_BUFFERS = 240;
const AU_QUEUE_BYTES = 16 * 1024 * 1024;

/** Quotes a value for gst_parse_launch: inside double quotes only `"` and `\` need escaping. */
export function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function rate(fps: number): string {
  // max-rate is an integer property; at least 1 so that fractional rates never mean "no limit".
  return `videorate drop-only=true max-rate=${Math.max(1, Math.round(fps))}`;
}

function outputCaps(a: AnalysisSize, memory = ''): string {
  return a.resize === 'fit'
    // A range lets videoscale fixate the largest size that keeps square pixels inside the box.
    ? `video/x-raw${memory},format=${a.format},width=[1,${a.width}],height=[1,${a.height}],pixel-aspect-ratio=1/1`
    : `video/x-raw${memory},format=${a.format},width=${a.width},height=${a.height}`;
}

function sourcePart(spec: PipelineSpec): { part: string; secrets: SecretProperty[] } {
  const s = spec.source;
  switch (s.kind) {
    case 'file':
      // parsebin finds the container (MP4, MKV, TS, raw Annex-B); the capsfilter picks the video
      // stream of the expected codec and lets audio pads go unlinked.
      return { part: `filesrc name=${ELEMENT.source} location=${quote(s.path)} ! parsebin ! capsfilter caps=video/x-${codecOf(spec)}`, secrets: [] };
    case 'rtsp': {
      const secrets: SecretProperty[] = [];
      if (s.user !== null) secrets.push({ element: ELEMENT.source, property: 'user-id', value: s.user });
      if (s.password !== null) secrets.push({ element: ELEMENT.source, property: 'user-pw', value: s.password });
      const c = codecOf(spec);
      const encoding = c === 'h264' ? 'H264' : 'H265';
      return {
        part: `rtspsrc name=${ELEMENT.source} location=${quote(s.location)} protocols=${spec.rtsp.transport} latency=${spec.rtsp.latencyMs} drop-on-latency=true`
          + ` ! capsfilter caps="application/x-rtp,media=video,encoding-name=${encoding}" ! rtp${c}depay`,
        secrets,
      };
    }
    case 'test':
      return {
        part: `videotestsrc name=${ELEMENT.source} pattern=${s.pattern} is-live=true ! video/x-raw,width=${s.width},height=${s.height},framerate=${s.fps}/1`,
        secrets: [],
      };
  }
}

function codecOf(spec: PipelineSpec): Codec {
  if (spec.decoder === null) throw new Error(`a ${spec.source.kind} source needs a decoder`);
  return spec.decoder.codec;
}

/** The parser, which puts the coded size in its caps, and the caps the decoder needs. */
function parsePart(d: DecoderChoice): string {
  // nvv4l2decoder takes byte-stream access units only; MP4 gives avc, so the parser converts.
  return d.family === 'jetson' ? `${d.codec}parse ! video/x-${d.codec},stream-format=byte-stream,alignment=au` : `${d.codec}parse`;
}

/**
 * The access-unit branch: a second parser turns whatever the first gave (byte-stream for the
 * Jetson's decoder, avc from MP4) into length-prefixed access units with the parameter sets in the
 * caps' codec_data, the form MP4 and WebCodecs take. Its appsink blocks only its own queue's thread;
 * the queue leaks, so a stalled pull never reaches the tee.
 */
function accessUnitBranch(codec: Codec): string {
  const format = codec === 'h264' ? 'avc' : 'hvc1';
  return `queue leaky=downstream max-size-buffers=${AU_QUEUE_BUFFERS} max-size-bytes=${AU_QUEUE_BYTES} max-size-time=0`
    + ` ! ${codec}parse ! video/x-${codec},stream-format=${format},alignment=au`
    + ` ! appsink name=${ELEMENT.accessUnits} max-buffers=8 drop=false sync=false async=false`;
}

/**
 * The full-resolution branch: only the newest decoded frame, read through `last-sample` when a
 * snapshot is due. It holds references to decoded frames, never copies them: videoconvert passes
 * I420 through untouched, and a Jetson's NVMM frame is copied to system memory by the VIC.
 */
function fullFrameBranch(jetson: boolean): string {
  return `queue leaky=downstream max-size-buffers=1 ! ${jetson ? 'nvvidconv' : 'videoconvert'} ! video/x-raw,format=I420`
    + ` ! fakesink name=${ELEMENT.full} enable-last-sample=true sync=false async=false`;
}

function decoderPart(d: DecoderChoice): string {
  switch (d.family) {
    case 'jetson':
      return 'nvv4l2decoder';
    case 'nvidia':
      return d.element;
    case 'software':
      // libav's frame threads each hold a decoded frame (3 MB at 1080p) and compete with inference
      // for the same cores; one stream's analysis rate never needs more than one thread's decode.
      return `${d.element} max-threads=1`;
  }
}

/**
 * Builds the pipeline for one stream:
 *
 *   source ! [depay/demux] ! parse ! queue ! tee ─ queue(leaky) ! fakesink name=probe   (source size)
 *                                               ├─ queue(leaky) ! parse ! appsink name=au    (accessUnits: coded sources)
 *                                               └─ decode ! videorate ! tee ─ queue(leaky, 1) ! I420 ! fakesink name=full  (fullFrames)
 *                                                                         └─ scale+convert ! appsink name=sink
 *
 * The rate limit comes before scaling so that dropped frames cost no conversion. The probe branch
 * keeps the last access unit, whose caps (set by the parser from the stream's headers) give the
 * unscaled size that boxes are mapped back to; probing before the decoder keeps a few kilobytes of
 * coded data there instead of a whole decoded frame. The stream reads it for every frame, because
 * a camera may change its resolution mid-stream and the scaled output alone cannot show that
 * (1080p and 720p both fit 416×416 as 416×234). The tee sits right before the decoder, so the
 * probe runs at most about one access unit ahead of the frame being pulled instead of a queue's
 * worth (stream.ts withholds the frames around a change). Test sources (raw video) probe their
 * frames.
 *
 * The optional branches cost nothing on the frame path: the access-unit branch has its own queue
 * and thread; pushing into the full-resolution branch's queue takes a reference, not a copy. That
 * branch is teed after the rate limit and fed before the analysis, so it holds the frame the
 * analysis is working on (or the next one the analysis will get): an event's snapshot shows the
 * frame the event was detected on, not one decoded during its inference; and on a Jetson the VIC
 * copies only analysed frames to system memory.
 */
export function buildPipeline(spec: PipelineSpec): BuiltPipeline {
  const { part: src, secrets } = sourcePart(spec);
  const coded = spec.source.kind !== 'test' && spec.decoder !== null ? spec.decoder : null;
  const jetson = coded?.family === 'jetson';
  const convert = jetson
    // The VIC scales and converts in one step, writing system memory the appsink can map.
    ? `nvvidconv ! ${outputCaps(spec.analysis)}`
    : spec.analysis.resize === 'fit'
      ? `videoscale ! videoconvert ! ${outputCaps(spec.analysis)}`
      : `videoscale add-borders=false ! videoconvert ! ${outputCaps(spec.analysis)}`;
  const sync = spec.sync ? 'true' : 'false';
  // The probe branch is requested first, so the tee hands it each access unit before the decoder.
  const description = `${src}${coded ? ` ! ${parsePart(coded)}` : ''} ! queue max-size-buffers=2 ! tee name=t`
    + ` t. ! queue leaky=downstream max-size-buffers=1 ! fakesink name=${ELEMENT.probe} enable-last-sample=true sync=false async=false`
    + (coded && spec.accessUnits === true ? ` t. ! ${accessUnitBranch(coded.codec)}` : '')
    + ` t. ! ${coded ? `${decoderPart(coded)} ! ` : ''}${rate(spec.fps)} ! `
    + (spec.fullFrames === true ? `tee name=d d. ! ${fullFrameBranch(jetson)} d. ! ` : '')
    + convert
    + ` ! appsink name=${ELEMENT.sink} max-buffers=1 drop=${spec.paced === true ? 'false' : 'true'} sync=${sync}`;
  return { description, secrets };
}
