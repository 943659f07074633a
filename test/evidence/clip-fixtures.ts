import { execFile } from 'node:child_process';
import path from 'node:path';
import type { AccessUnit, TrackConfig } from '../../daemon/video/access-unit.js';
import { createPipeline, isAppSink, type GstCaps } from '../../daemon/video/gst.js';

/**
 * Real compressed video for the clip tests: H.264 files made with x264, their access units pulled
 * from a GStreamer parser exactly as the stream hands them out (MP4 form, caps with codec_data), and
 * MP4s decoded again with avdec_h264 to count what plays.
 */

export interface X264Options {
  seconds: number;
  fps?: number;
  width?: number;
  height?: number;
  /** Target bitrate, kbit/s. */
  kbps?: number;
  /** Frames between keyframes. */
  keyInt?: number;
  /** videotestsrc pattern (default `ball`); `snow` does not compress, so the encoder spends the whole bitrate. */
  pattern?: string;
  name?: string;
}

function gstLaunch(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('gst-launch-1.0', ['-q', ...args], { timeout: 120_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`gst-launch-1.0 failed: ${stderr || err.message}`));
      else resolve();
    });
  });
}

/** An MP4 of a moving test pattern, without B-frames (clips keep decode order; see docs/evidence-clips.md). */
export async function makeX264(dir: string, o: X264Options): Promise<string> {
  const fps = o.fps ?? 10;
  const width = o.width ?? 320;
  const height = o.height ?? 240;
  const file = path.join(dir, o.name ?? `x264-${width}x${height}-${o.seconds}s.mp4`);
  await gstLaunch([
    'videotestsrc', `num-buffers=${Math.round(o.seconds * fps)}`, `pattern=${o.pattern ?? 'ball'}`, '!',
    `video/x-raw,width=${width},height=${height},framerate=${fps}/1`, '!', 'videoconvert', '!', 'video/x-raw,format=I420', '!',
    'x264enc', 'speed-preset=ultrafast', 'bframes=0', `key-int-max=${o.keyInt ?? fps}`, `bitrate=${o.kbps ?? 500}`,
    'pass=cbr', '!', 'h264parse', '!', 'mp4mux', '!', 'filesink', `location=${file}`,
  ]);
  return file;
}

/** H.264 NAL type 5 (IDR) in a length-prefixed access unit. */
export function hasIdr(data: Buffer): boolean {
  for (let i = 0; i + 4 < data.length;) {
    const len = data.readUInt32BE(i);
    if ((data[i + 4]! & 0x1f) === 5) return true;
    i += 4 + len;
  }
  return false;
}

/** H.265 NAL types 16-23 (IRAP: BLA, IDR, CRA) in a length-prefixed access unit. */
export function hasIrap(data: Buffer): boolean {
  for (let i = 0; i + 4 < data.length;) {
    const len = data.readUInt32BE(i);
    const type = (data[i + 4]! >> 1) & 0x3f;
    if (type >= 16 && type <= 23) return true;
    i += 4 + len;
  }
  return false;
}

function trackOf(caps: GstCaps): TrackConfig {
  const description = caps['codec_data'];
  if (!Buffer.isBuffer(description)) throw new Error(`no codec_data in the parser's caps: ${JSON.stringify(caps)}`);
  const fr = caps['framerate'];
  const fps = typeof fr === 'number' ? fr : typeof fr === 'string' ? Number(fr.split('/')[0]) / Number(fr.split('/')[1] ?? 1) : 0;
  return {
    codec: 'h264', description, codecString: `avc1.${description.subarray(1, 4).toString('hex')}`,
    width: caps.width ?? 0, height: caps.height ?? 0, fps: Number.isFinite(fps) ? fps : 0,
  };
}

export interface ProduceOptions {
  streamId?: string;
  epoch?: number;
  /** Wall clock of the first unit; the others follow at the caps' frame rate. */
  wallStartMs?: number;
  ptsStartMs?: number;
}

/** Every access unit of an MP4 file, as fast as the parser gives them. */
export function accessUnitsOf(file: string, o: ProduceOptions = {}): Promise<AccessUnit[]> {
  const pipeline = createPipeline(`filesrc location="${file}" ! parsebin ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! appsink name=au sync=false`);
  const sink = pipeline.findChild('au');
  if (!isAppSink(sink)) throw new Error('no appsink');
  const units: AccessUnit[] = [];
  let track: TrackConfig | null = null;
  return new Promise((resolve, reject) => {
    const next = (): void => sink.pull((buf, caps) => {
      if (!buf) {
        pipeline.stop();
        resolve(units);
        return;
      }
      try {
        track ??= trackOf(caps);
        const step = 1000 / (track.fps || 10);
        const i = units.length;
        units.push({
          streamId: o.streamId ?? 'cam', data: Buffer.from(buf), key: hasIdr(buf), ptsMs: (o.ptsStartMs ?? 0) + i * step,
          wallMs: (o.wallStartMs ?? 1_000_000) + i * step, epoch: o.epoch ?? 1, track,
        });
        next();
      } catch (err) {
        pipeline.stop();
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    pipeline.play();
    next();
  });
}

export interface Decoded {
  /** Pictures avdec_h264 produced. */
  frames: number;
  /** The container's duration, seconds. */
  durationS: number;
  /** The first sample in the file starts a GOP. */
  firstIsKey: boolean;
}

/** Plays an MP4 through qtdemux and avdec_h264 (avdec_h265); rejects on a decoding error. */
export function decodeMp4(file: string, codec: 'h264' | 'h265' = 'h264'): Promise<Decoded> {
  const pipeline = createPipeline(`filesrc location="${file}" ! qtdemux name=d ! tee name=t`
    + ` t. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! ${codec}parse ! avdec_${codec} ! appsink name=pics sync=false`
    + ' t. ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! appsink name=coded sync=false');
  const pics = pipeline.findChild('pics');
  const coded = pipeline.findChild('coded');
  if (!isAppSink(pics) || !isAppSink(coded)) throw new Error('no appsink');
  return new Promise((resolve, reject) => {
    let frames = 0;
    let firstIsKey: boolean | null = null;
    let durationS = -1;
    let open = 2;
    let failed: string | null = null;
    const done = (): void => {
      if (--open > 0) return;
      pipeline.stop();
      if (failed !== null) reject(new Error(failed));
      else resolve({ frames, durationS, firstIsKey: firstIsKey ?? false });
    };
    const nextPic = (): void => pics.pull((buf) => {
      if (!buf) return done();
      if (durationS < 0) durationS = pipeline.queryDuration();
      frames++;
      nextPic();
    });
    const nextCoded = (): void => coded.pull((buf) => {
      if (!buf) return done();
      firstIsKey ??= codec === 'h264' ? hasIdr(buf) : hasIrap(buf);
      nextCoded();
    });
    pipeline.pollBus((msg) => {
      if (msg.type === 'error') {
        failed = `decoding ${file}: ${msg.message ?? 'error'}`;
        pipeline.stop();
      }
    });
    pipeline.play();
    nextPic();
    nextCoded();
  });
}
