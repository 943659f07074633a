import { rename, writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { z } from 'zod';
import { errorMessage } from '../../daemon/errors.js';
import { call, DEFAULT_SOCKET } from '../control-client.js';
import { CliError, EXIT } from '../errors.js';
import { parseOptions } from '../options.js';
import type { Output } from '../output.js';

const snapshotOptions = z.strictObject({
  socket: z.string().min(1),
  output: z.string().min(1),
  overlay: z.boolean().optional(),
  maxWidth: z.coerce.number().int().min(64).max(8192).optional(),
  json: z.boolean().optional(),
});

/**
 * `vigilctl snapshot STREAM -o FILE.jpg`: the stream's newest frame at the camera's resolution, now.
 * Locally over the socket, or through the hub with `--device SITE/DEVICE --hub URL` (a technician
 * with only a terminal can see a camera).
 */
export function snapshotCommand(out: Output): Command {
  return new Command('snapshot')
    .description("save a stream's newest frame at the camera's resolution as a JPEG")
    .argument('<stream>', 'stream id')
    .requiredOption('-o, --output <file>', 'where to write the JPEG')
    .option('--overlay', "draw the latest tracks and the stream's rule zones and lines")
    .option('--max-width <px>', 'scale down to at most this width (default: the device\'s evidence.max_width)')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--json', 'print what was written as JSON')
    .action(async (stream: string, raw: unknown) => {
      const opts = parseOptions(snapshotOptions, raw);
      // Drawing, scaling and encoding a 4K frame on a busy device takes longer than a status call.
      const reply = await call(opts.socket, {
        method: 'snapshot',
        params: { stream, overlay: opts.overlay === true, ...(opts.maxWidth !== undefined ? { max_width: opts.maxWidth } : {}) },
      }, 20_000);
      const jpeg = Buffer.from(reply.jpeg_base64, 'base64');
      if (jpeg.length !== reply.bytes || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) {
        throw new CliError(`the snapshot of ${stream} arrived damaged: ${jpeg.length} of ${reply.bytes} bytes`, EXIT.failed);
      }
      // Written aside and renamed: an image viewer watching the file never reads half of it.
      const tmp = `${opts.output}.part`;
      try {
        await writeFile(tmp, jpeg);
        await rename(tmp, opts.output);
      } catch (err) {
        throw new CliError(`cannot write ${opts.output}: ${errorMessage(err)}`, EXIT.failed);
      }
      const meta = { stream: reply.stream, width: reply.width, height: reply.height, bytes: reply.bytes, ts: reply.ts, file: opts.output };
      out.result(opts.json, meta,
        `${opts.output}: ${reply.width}x${reply.height}, ${Math.round(reply.bytes / 1024)} KiB, frame of ${new Date(reply.ts).toISOString()}`);
    });
}
