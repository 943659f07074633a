import { execFile, spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { InputSize } from '../../inference/detector.js';
import type { Frame } from '../../video/frame.js';
import { selfTestFrame } from '../self-test.js';
import { QuantizeError } from './quantize-error.js';

const run = promisify(execFile);

/**
 * The JPEG images of a folder as frames scaled for the model, in name order (so a run is
 * repeatable). A file that is not a JPEG is refused by name: a silently skipped calibration image
 * is a calibration on fewer frames than asked for.
 */
export async function framesFromFolder(dir: string, size: InputSize, limit = Infinity): Promise<Frame[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch (err) {
    throw new QuantizeError(`cannot read the calibration folder ${dir}: ${(err as Error).message}`);
  }
  const images = names.filter((n) => /\.(jpe?g)$/i.test(n)).slice(0, limit);
  const others = names.filter((n) => /\.(png|bmp|gif|webp|tiff?)$/i.test(n));
  if (others.length > 0) throw new QuantizeError(`calibration folder ${dir}: only JPEG images are read; convert ${others.slice(0, 3).join(', ')}${others.length > 3 ? ' ...' : ''}`);
  const frames: Frame[] = [];
  for (const n of images) {
    try {
      frames.push(await selfTestFrame(path.join(dir, n), size));
    } catch (err) {
      throw new QuantizeError(`calibration image ${path.join(dir, n)} cannot be decoded as JPEG: ${(err as Error).message}`);
    }
  }
  return frames;
}

/** Where a camera frame of `w`x`h` lands in the model input: scaled to fit, aspect kept (letterbox) or stretched. */
export function fitSize(w: number, h: number, size: InputSize): { width: number; height: number } {
  if (!size.letterbox) return { width: size.width, height: size.height };
  const r = Math.min(size.width / w, size.height / h);
  // Even sizes: GStreamer's BGRx scaling of odd sizes is fine, but I420 sources round them anyway.
  return { width: Math.min(size.width, Math.round(w * r)), height: Math.min(size.height, Math.round(h * r)) };
}

async function videoSize(file: string): Promise<{ width: number; height: number }> {
  const { stdout } = await run('gst-launch-1.0', ['-v', 'filesrc', `location=${file}`, '!', 'decodebin', '!', 'videoconvert', '!',
    'video/x-raw,format=BGRx', '!', 'fakesink', 'num-buffers=1'], { timeout: 30_000 }).catch((err: Error) => {
    throw new QuantizeError(`cannot decode video ${file} with GStreamer: ${err.message.split('\n')[0] ?? ''}`);
  });
  const m = /width=\(int\)(\d+), height=\(int\)(\d+)/.exec(stdout);
  if (!m) throw new QuantizeError(`cannot find the frame size of video ${file} in GStreamer's caps`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/**
 * Every `step`-th frame of a video file, decoded and scaled by GStreamer as a stream's pipeline
 * scales them (BGRx at the model's fit size), read from the pipe so only kept frames use memory.
 */
export async function framesFromVideo(file: string, size: InputSize, step: number, limit = Infinity): Promise<Frame[]> {
  const src = await videoSize(file);
  const fit = fitSize(src.width, src.height, size);
  const bytes = fit.width * fit.height * 4;
  const child = spawn('gst-launch-1.0', ['-q', 'filesrc', `location=${file}`, '!', 'decodebin', '!', 'videoconvert', '!', 'videoscale', '!',
    `video/x-raw,format=BGRx,width=${fit.width},height=${fit.height}`, '!', 'fdsink', 'fd=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const frames: Frame[] = [];
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdout.on('data', (d: Buffer) => {
    pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
    while (pending.length >= bytes) {
      if (index % step === 0 && frames.length < limit) {
        frames.push({ streamId: path.basename(file), seq: index, ts: 0, format: 'BGRx', width: fit.width, height: fit.height,
          data: Buffer.from(pending.subarray(0, bytes)), sourceWidth: src.width, sourceHeight: src.height });
      }
      pending = pending.subarray(bytes);
      index++;
    }
    if (frames.length >= limit) child.kill('SIGTERM');
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0 && frames.length < limit) throw new QuantizeError(`GStreamer failed decoding ${file} (exit ${code}): ${stderr.trim().split('\n')[0] ?? ''}`);
  return frames;
}
