import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Frame } from '../../daemon/video/frame.js';

const run = promisify(execFile);

function capsSize(verbose: string, pad: string): { width: number; height: number } {
  const m = new RegExp(`${pad}: caps = video/x-raw, [^\\n]*?width=\\(int\\)(\\d+), height=\\(int\\)(\\d+)`).exec(verbose);
  if (m === null) throw new Error(`no caps for ${pad} in gst-launch output:\n${verbose}`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/**
 * A frame exactly as the video pipeline delivers one: decoded, converted and scaled by GStreamer
 * to fit inside max x max with the aspect kept. The sizes come from the negotiated caps
 * (`gst-launch-1.0 -v`), not from arithmetic that could share a mistake with the code under test.
 */
export async function gstFrame(image: string, dir: string, format: Frame['format'] = 'BGRx', max = 416): Promise<Frame> {
  const out = path.join(dir, `${path.basename(image)}.${format}.raw`);
  const { stdout } = await run('gst-launch-1.0', ['-v',
    'filesrc', `location=${image}`, '!', 'jpegdec', '!', 'videoconvert', '!', 'videoscale', '!',
    `video/x-raw,format=${format},width=[1,${max}],height=[1,${max}],pixel-aspect-ratio=1/1`, '!',
    'filesink', `location=${out}`]);
  const source = capsSize(stdout, 'jpegdec0.GstPad:src');
  const scaled = capsSize(stdout, 'filesink0.GstPad:sink');
  const data = await readFile(out);
  if (data.length !== scaled.width * scaled.height * 4) {
    throw new Error(`${out}: ${data.length} bytes, expected ${scaled.width}x${scaled.height}x4`);
  }
  return {
    streamId: 'test', seq: 0, ts: Date.now(), format, data,
    width: scaled.width, height: scaled.height,
    sourceWidth: source.width, sourceHeight: source.height,
  };
}
