import { execFile } from 'node:child_process';
import path from 'node:path';

export interface ClipOptions {
  readonly codec?: 'h264' | 'h265';
  readonly frames?: number;
  readonly width?: number;
  readonly height?: number;
  readonly fps?: number;
  /** A videotestsrc pattern (default `ball`, which moves), or a still image to hold for every frame. */
  readonly source?: { readonly pattern: string } | { readonly image: string };
  readonly name?: string;
}

function gstLaunch(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('gst-launch-1.0', ['-q', ...args], { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`gst-launch-1.0 ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve();
    });
  });
}

/** Encodes a short MP4 clip into `dir` with gst-launch-1.0 and returns its path. */
export async function makeClip(dir: string, opts: ClipOptions = {}): Promise<string> {
  const codec = opts.codec ?? 'h264';
  const frames = opts.frames ?? 30;
  const fps = opts.fps ?? 30;
  const width = opts.width ?? 320;
  const height = opts.height ?? 240;
  const file = path.join(dir, opts.name ?? `clip-${codec}-${width}x${height}-${frames}.mp4`);
  const src = opts.source && 'image' in opts.source
    ? ['filesrc', `location=${opts.source.image}`, '!', 'decodebin', '!', 'imagefreeze', `num-buffers=${frames}`, '!', 'videoconvert', '!', 'videoscale']
    : ['videotestsrc', `num-buffers=${frames}`, `pattern=${opts.source?.pattern ?? 'ball'}`];
  // Key frames every second keep seeks and RTSP joins quick; ultrafast keeps test set-up short.
  const enc = codec === 'h264'
    ? ['x264enc', 'speed-preset=ultrafast', 'tune=zerolatency', `key-int-max=${fps}`, '!', 'h264parse']
    : ['x265enc', 'speed-preset=ultrafast', 'tune=zerolatency', `key-int-max=${fps}`, '!', 'h265parse'];
  await gstLaunch([
    ...src, '!', `video/x-raw,width=${width},height=${height},framerate=${fps}/1`, '!', 'videoconvert', '!',
    'video/x-raw,format=I420', '!', ...enc, '!', 'mp4mux', '!', 'filesink', `location=${file}`,
  ]);
  return file;
}
