import { spawn } from 'node:child_process';
import path from 'node:path';
import { i420Layout, type FullFrame } from '../../daemon/video/full-frame.js';

/**
 * Test material for small objects at 1080p (docs/small-objects.md, "Material"): no 1080p clip with
 * small people exists in ../shared/video, so a 1920×1080 mosaic is composed from a real clip's
 * decoded frames, each tile a time-offset copy of the clip at a chosen size, and encoded to H.264
 * with GStreamer. What the daemon then analyses is that file, decoded by its own pipeline.
 */
export interface MosaicSpec {
  clip: string;
  /** Source frames per mosaic frame: the mosaic plays at the clip's rate / step. */
  step: number;
  /** Mosaic frames to make. */
  frames: number;
  fps: number;
  /** Each tile's size on the canvas (the clip is scaled to it by GStreamer) and place (even pixels). */
  tileWidth: number;
  tileHeight: number;
  tiles: readonly { x: number; y: number; offset: number }[];
  /** Canvas, default 1920×1080. */
  width?: number;
  height?: number;
}

export interface Mosaic {
  file: string;
  width: number;
  height: number;
  /** For mosaic frame i and tile k: which sampled source frame is shown. */
  sourceIndex(i: number, k: number): number;
  /** The sampled source frames at the clip's own size (for reference boxes at a higher resolution than the tile's). */
  source: FullFrame[];
  sourceWidth: number;
  sourceHeight: number;
}

/** Frames of `clip` as I420 at their own size (or scaled to width×height), every `step`-th, up to `max`. */
export async function decodeI420(clip: string, step: number, max: number, size?: { width: number; height: number }): Promise<{ frames: Buffer[]; width: number; height: number }> {
  const { width, height } = size ?? await clipSize(clip);
  const bytes = i420Layout(width, height).size;
  const args = ['-q', 'filesrc', `location=${clip}`, '!', 'qtdemux', '!', 'h264parse', '!', 'avdec_h264', '!', 'videoscale', '!', 'videoconvert', '!',
    `video/x-raw,format=I420,width=${width},height=${height},pixel-aspect-ratio=1/1`, '!', 'fdsink', 'fd=1'];
  const frames: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const child = spawn('gst-launch-1.0', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let pending: Buffer[] = [];
    let have = 0;
    let index = 0;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.stdout.on('data', (chunk: Buffer) => {
      pending.push(chunk);
      have += chunk.length;
      while (have >= bytes) {
        const all = Buffer.concat(pending);
        const frame = all.subarray(0, bytes);
        if (index % step === 0 && frames.length < max) frames.push(Buffer.from(frame));
        index += 1;
        pending = [all.subarray(bytes)];
        have -= bytes;
      }
      if (frames.length >= max) child.kill();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0 || (signal !== null && frames.length >= max)) resolve();
      else reject(new Error(`decoding ${clip} failed (${code ?? signal}): ${stderr}`));
    });
  });
  return { frames, width, height };
}

/** A clip's frame size, from GStreamer's caps. */
export async function clipSize(clip: string): Promise<{ width: number; height: number }> {
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('gst-launch-1.0', ['-v', 'filesrc', `location=${clip}`, '!', 'qtdemux', '!', 'h264parse', '!', 'avdec_h264', '!',
      'fakesink', 'num-buffers=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
    child.on('error', reject);
    child.on('close', () => resolve(text));
  });
  const m = /video\/x-raw.*?width=\(int\)(\d+), height=\(int\)(\d+)/.exec(out);
  if (!m) throw new Error(`no video size found for ${clip}`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** Copies an I420 image into the canvas at (x, y) (both even). */
function blit(canvas: Buffer, cw: number, ch: number, tile: Buffer, tw: number, th: number, x: number, y: number): void {
  const c = i420Layout(cw, ch);
  const t = i420Layout(tw, th);
  for (let r = 0; r < th; r++) tile.copy(canvas, (y + r) * c.yStride + x, r * t.yStride, r * t.yStride + tw);
  for (let r = 0; r < t.uvHeight; r++) {
    const cy = (y >> 1) + r;
    tile.copy(canvas, c.uOffset + cy * c.uvStride + (x >> 1), t.uOffset + r * t.uvStride, t.uOffset + r * t.uvStride + t.uvWidth);
    tile.copy(canvas, c.vOffset + cy * c.uvStride + (x >> 1), t.vOffset + r * t.uvStride, t.vOffset + r * t.uvStride + t.uvWidth);
  }
}

/** Composes and encodes the mosaic into `dir`. */
export async function makeMosaic(dir: string, spec: MosaicSpec, name = 'mosaic.mp4'): Promise<Mosaic> {
  const width = spec.width ?? 1920;
  const height = spec.height ?? 1080;
  const pool = spec.frames + Math.max(...spec.tiles.map((t) => t.offset));
  const source = await decodeI420(spec.clip, spec.step, pool);
  const tiles = source.width === spec.tileWidth && source.height === spec.tileHeight
    ? source : await decodeI420(spec.clip, spec.step, pool, { width: spec.tileWidth, height: spec.tileHeight });
  const n = Math.min(source.frames.length, tiles.frames.length);
  if (n === 0) throw new Error(`no frames decoded from ${spec.clip}`);
  const sourceIndex = (i: number, k: number): number => (i + (spec.tiles[k]?.offset ?? 0)) % n;
  const file = path.join(dir, name);
  const layout = i420Layout(width, height);
  const encoder = spawn('gst-launch-1.0', ['-q', 'fdsrc', 'fd=0', '!',
    `rawvideoparse`, 'format=i420', `width=${width}`, `height=${height}`, `framerate=${spec.fps}/1`, '!',
    'x264enc', 'speed-preset=ultrafast', `key-int-max=${spec.fps * 2}`, 'bitrate=8000', '!', 'h264parse', '!', 'mp4mux', '!',
    'filesink', `location=${file}`], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  encoder.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const closed = new Promise<number | null>((resolve, reject) => {
    encoder.on('error', reject);
    encoder.on('close', resolve);
  });
  for (let i = 0; i < spec.frames; i++) {
    const canvas = Buffer.alloc(layout.size);
    canvas.fill(16, 0, layout.uOffset);
    canvas.fill(128, layout.uOffset);
    spec.tiles.forEach((t, k) => {
      blit(canvas, width, height, tiles.frames[sourceIndex(i, k)] as Buffer, spec.tileWidth, spec.tileHeight, t.x, t.y);
    });
    if (!encoder.stdin.write(canvas)) await new Promise((resolve) => encoder.stdin.once('drain', resolve));
  }
  encoder.stdin.end();
  const code = await closed;
  if (code !== 0) throw new Error(`encoding ${file} failed (${code}): ${stderr}`);
  return {
    file, width, height, sourceIndex, sourceWidth: source.width, sourceHeight: source.height,
    source: source.frames.slice(0, n).map((data, i) => ({ streamId: 'source', ts: i, width: source.width, height: source.height, format: 'I420', data })),
  };
}

/**
 * The tests' material: pedestrians.mp4 at half size (480×270, people of 20-75 px) in four tiles
 * near the corners of a dark 1080p canvas, 17 sampled frames (3.4 s) apart, at 5 fps. The whole
 * frame scaled to a 416 model input shows those people at 4-16 px.
 */
export function plazaCornersSpec(clip: string, frames: number): MosaicSpec {
  return {
    clip, step: 6, frames, fps: 5, tileWidth: 480, tileHeight: 270,
    tiles: [{ x: 40, y: 40, offset: 0 }, { x: 1400, y: 40, offset: 17 }, { x: 40, y: 770, offset: 35 }, { x: 1400, y: 770, offset: 52 }],
  };
}
