import { Command, Option } from 'commander';
import { DEFAULT_SOCKET } from '../control-client.js';
import { CliError, EXIT } from '../errors.js';

/** What a signed package of the result needs, when --package is given (package-model only). */
export interface PackageRequest {
  manifest: string;
  modelsDir?: string;
  name: string;
  version: string;
  key: string;
  out: string;
  variant: string[];
  prefer: string[];
  expect: string[];
}

interface QuantizeOptions {
  manifest: string; modelsDir?: string; images?: string; video: string[]; stream?: string[]; duration?: string; keepFrames?: string; socket?: string;
  step: string; frames: string; holdout: string;
  method: 'minmax' | 'percentile' | 'entropy'; activations: 'uint8' | 'int8'; bar: string; minSpeedup: string; keepFloat: string; out: string; threads: string;
  package?: string; name?: string; version?: string; key?: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** CliError, not commander's InvalidArgumentError: thrown from an action, the latter exits 2 unprinted. */
function num(v: string, what: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new CliError(`${what}: expected a number from ${min} to ${max}, got "${v}"`, EXIT.usage);
  return n;
}

/**
 * `quantize`: an INT8 (QDQ) version of a detector from calibration frames, refused when it
 * disagrees with fp32 on held-out frames. Shared by `vigilctl models quantize` (on a device, frames
 * sampled from its own streams by the running vigild, or from its clips) and `package-model
 * quantize` (a publisher's image folder, `packageIt` set).
 */
export function quantizeCommand(print: (s: string) => void, packageIt?: (int8File: string, o: PackageRequest) => Promise<void>): Command {
  const cmd = new Command('quantize').description('make an INT8 (QDQ) model from calibration frames and check it against fp32')
    .requiredOption('--manifest <file>', 'the fp32 model\'s manifest (models/*.json)')
    .option('--models-dir <dir>', 'where the manifest\'s relative file and labels are')
    .option('--images <dir>', 'a folder of JPEG calibration images')
    .option('--video <file>', 'a video file to sample frames from (repeatable)', collect, [])
    .option('--step <n>', 'keep every n-th video frame', '10')
    .option('--frames <n>', 'most frames read in all, calibration and held-out', '300')
    .option('--holdout <share>', 'the last share of each source\'s frames, held out for the fidelity check', '0.3')
    .addOption(new Option('--method <m>', 'activation calibration').choices(['minmax', 'percentile', 'entropy']).default('minmax'))
    .addOption(new Option('--activations <t>', 'uint8 (fastest on onnxruntime x86) or int8 (symmetric, for TensorRT)').choices(['uint8', 'int8']).default('uint8'))
    .option('--bar <x>', 'refuse below this mAP@0.5 and recall against fp32', '0.95')
    .option('--min-speedup <x>', 'refuse unless INT8 is this many times faster than fp32 on held-out frames (0: not timed)', '1')
    .option('--keep-float <n|auto>', 'most sensitive nodes left in float', 'auto')
    .option('--threads <n>', 'onnxruntime threads (0: its choice)', '0')
    .requiredOption('--out <file>', 'the INT8 ONNX file to write (its report goes to <file>.report.json)');
  if (!packageIt) {
    // On a device: frames of its own streams, sampled by the running vigild over time.
    cmd.option('--stream <id>', 'sample calibration frames from this stream of the running vigild (repeatable)', collect, [])
      .option('--duration <time>', 'with --stream: how long to sample (600, 90s, 10m, 2h)', '10m')
      .option('--keep-frames <dir>', 'with --stream: keep the sampled frames as JPEGs (and frames.json) in this folder; else they live only for the job')
      .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET);
  }
  if (packageIt) {
    cmd.option('--package <file>', 'also build a signed package with the INT8 file as its int8 variant')
      .option('--name <name>', 'package model name (with --package)')
      .option('--version <version>', 'package version (with --package)')
      .option('--key <file>', 'publisher private key (with --package)');
  }
  return cmd.action(async (o: QuantizeOptions) => {
    if (o.package !== undefined && (o.name === undefined || o.version === undefined || o.key === undefined)) {
      throw new CliError('--package needs --name, --version and --key', EXIT.usage);
    }
    const keep = o.keepFloat === 'auto' ? 'auto' : num(o.keepFloat, '--keep-float', 0, 10_000);
    const streams = o.stream ?? [];
    if (streams.length === 0 && o.keepFrames !== undefined) throw new CliError('--keep-frames needs --stream', EXIT.usage);
    const frames = num(o.frames, '--frames', 2, 100_000);
    let sources: import('../../daemon/video/frame.js').Frame[][] | undefined;
    const holdout = num(o.holdout, '--holdout', 0.01, 0.99);
    if (streams.length > 0) {
      if (frames > 1000) throw new CliError(`--frames: at most 1000 with --stream (each is held in vigild's memory), got ${frames}`, EXIT.usage);
      // Refused before sampling for minutes: the quantizer would refuse the result anyway (its MIN_CALIBRATION_FRAMES).
      const calibration = Math.round(frames * (1 - holdout));
      if (calibration < 8) {
        throw new CliError(`--frames ${frames} with --holdout ${holdout} leaves ${calibration} calibration frames; at least 8 are needed`, EXIT.usage);
      }
      const { framesFromStreams, parseDuration } = await import('./quantize-stream-frames.js');
      sources = (await framesFromStreams({ socket: o.socket ?? DEFAULT_SOCKET, streams, count: frames, durationS: parseDuration(o.duration ?? '10m'),
        keepDir: o.keepFrames, progress: (line) => process.stderr.write(`${line}\n`) })).sources;
    }
    // Loaded here: onnxruntime's native library and the protobuf code would otherwise load with
    // every vigilctl command (this file is part of the CLI's command tree).
    const { reportText, runQuantizeJob } = await import('../../daemon/models/quantize/quantize-job.js');
    const result = await runQuantizeJob({
      manifest: o.manifest, modelsDir: o.modelsDir, images: o.images, videos: o.video, sources, step: num(o.step, '--step', 1, 10_000),
      frames, holdout, method: o.method, activations: o.activations,
      bar: num(o.bar, '--bar', 0, 1), minSpeedup: num(o.minSpeedup, '--min-speedup', 0, 1000), keepFloat: keep, out: o.out, threads: num(o.threads, '--threads', 0, 256),
      progress: (line) => process.stderr.write(`${line}\n`),
    });
    print(reportText(result));
    if (o.package !== undefined && packageIt && o.name !== undefined && o.version !== undefined && o.key !== undefined) {
      await packageIt(o.out, { manifest: o.manifest, ...(o.modelsDir !== undefined ? { modelsDir: o.modelsDir } : {}), name: o.name,
        version: o.version, key: o.key, out: o.package, variant: [], prefer: [], expect: [] });
    }
  });
}
