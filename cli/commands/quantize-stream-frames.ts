import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../../daemon/errors.js';
import { encodeJpegJs } from '../../daemon/evidence/js-jpeg-encoder.js';
import type { Frame } from '../../daemon/video/frame.js';
import { call } from '../control-client.js';
import { CliError, EXIT } from '../errors.js';

export interface StreamSampling {
  socket: string;
  streams: readonly string[];
  count: number;
  durationS: number;
  /** Where to keep the frames as JPEGs (and frames.json); undefined: only in this process, for the job. */
  keepDir?: string | undefined;
  progress: (line: string) => void;
}

export interface SampledSources {
  /** One array per stream, each in frame order (the held-out share is each stream's latest stretch). */
  sources: Frame[][];
  summary: string;
}

/** A duration as seconds: `600`, `90s`, `10m`, `2h`. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h)?$/.exec(text.trim());
  if (!m) throw new CliError(`--duration: expected seconds or a number with s, m or h (e.g. 600, 10m), got "${text}"`, EXIT.usage);
  const n = Number(m[1]) * ({ s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h' | undefined ?? 's']);
  if (n < 1 || n > 86_400) throw new CliError(`--duration: from 1 s to 24 h, got "${text}"`, EXIT.usage);
  return n;
}

/**
 * Calibration frames from the running vigild's own streams (calibration.* methods): the daemon
 * samples them over `durationS` (weighted towards frames with motion and detections), then this
 * process fetches them page by page and tells the daemon to drop them. The frames arrive as the
 * analysis loop saw them (BGRx at the model's fit size), so nothing is decoded or scaled again.
 */
export async function framesFromStreams(o: StreamSampling): Promise<SampledSources> {
  const started = await call(o.socket, { method: 'calibration.start', params: { streams: [...o.streams], count: o.count, duration_s: o.durationS } }, 10_000);
  const job = started.job;
  try {
    o.progress(`sampling ${started.count} frames from ${started.streams.join(', ')} over ${formatS(started.duration_s)} (job ${job})`);
    const deadline = Date.now() + (o.durationS + 60) * 1000;
    let lastSaid = 0;
    for (;;) {
      const s = await call(o.socket, { method: 'calibration.fetch', params: { job, from: 0, max_bytes: 1 } }, 10_000);
      if (s.state === 'done') break;
      if (Date.now() - lastSaid >= 10_000) {
        lastSaid = Date.now();
        o.progress(`  ${formatS(s.elapsed_s)} of ${formatS(s.duration_s)}: ${s.seen} frames analysed (${s.motion_frames} with motion, `
          + `${s.inferred_frames} inferred), ${s.kept} kept (${(s.bytes / 2 ** 20).toFixed(1)} MiB in vigild)`);
      }
      if (Date.now() > deadline) throw new CliError(`calibration job ${job} did not end within ${formatS(o.durationS + 60)}`, EXIT.failed);
      // The job ends on vigild's clock; polling faster than a second would only cost the daemon replies.
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(50, (o.durationS - s.elapsed_s) * 1000))));
    }
    const byStream = new Map<string, Frame[]>();
    const meta: { file: string; stream: string; seq: number; ts: number; motion: number; detections: number | null }[] = [];
    let from = 0;
    let total = 0;
    let seen = 0;
    let motionFrames = 0;
    do {
      const page = await call(o.socket, { method: 'calibration.fetch', params: { job, from, max_bytes: 700_000 } }, 30_000);
      total = page.total ?? 0;
      seen = page.seen;
      motionFrames = page.motion_frames;
      for (const f of page.frames) {
        const data = Buffer.from(f.data_base64, 'base64');
        if (data.length !== f.width * f.height * 4) {
          throw new CliError(`calibration frame ${f.index} of ${f.stream} arrived damaged: ${data.length} bytes for ${f.width}x${f.height}`, EXIT.failed);
        }
        const frame: Frame = { streamId: f.stream, seq: f.seq, ts: f.ts, format: f.format, width: f.width, height: f.height, data,
          sourceWidth: f.source_width, sourceHeight: f.source_height };
        const list = byStream.get(f.stream) ?? [];
        list.push(frame);
        byStream.set(f.stream, list);
        meta.push({ file: `${f.stream}-${String(f.seq).padStart(8, '0')}.jpg`, stream: f.stream, seq: f.seq, ts: f.ts, motion: f.motion, detections: f.detections });
      }
      if (page.next <= from) break;
      from = page.next;
    } while (from < total);
    const sources = [...byStream.values()];
    const withMotion = meta.filter((m) => m.motion > 0).length;
    const withDetections = meta.filter((m) => (m.detections ?? 0) > 0).length;
    const summary = `${total} frames from ${byStream.size} stream(s) (${withMotion} with motion, ${withDetections} with detections), `
      + `picked from ${seen} analysed (${motionFrames} with motion)`;
    o.progress(`sampled ${summary}`);
    if (o.keepDir !== undefined) await keepFrames(o.keepDir, sources, meta);
    return { sources, summary };
  } finally {
    // Whatever happened here, the daemon need not hold the frames any longer.
    await call(o.socket, { method: 'calibration.drop', params: { job } }, 10_000).catch((err: unknown) =>
      o.progress(`could not drop calibration job ${job} in vigild (it drops it itself within 10 minutes): ${errorMessage(err)}`));
  }
}

/** The frames as JPEGs (quality 95; `--images DIR` reads them back) and what vigild said of each. */
async function keepFrames(dir: string, sources: readonly Frame[][], meta: readonly { file: string }[]): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    let i = 0;
    for (const frames of sources) {
      for (const f of frames) {
        const m = meta.find((x) => x.file === `${f.streamId}-${String(f.seq).padStart(8, '0')}.jpg`);
        const name = m?.file ?? `frame-${i}.jpg`;
        await writeFile(path.join(dir, name), encodeJpegJs({ data: f.data, width: f.width, height: f.height, format: f.format }, 95));
        i += 1;
      }
    }
    await writeFile(path.join(dir, 'frames.json.part'), JSON.stringify(meta, null, 2));
    await rename(path.join(dir, 'frames.json.part'), path.join(dir, 'frames.json'));
  } catch (err) {
    throw new CliError(`cannot keep the calibration frames in ${dir}: ${errorMessage(err)}`, EXIT.failed);
  }
}

const formatS = (s: number): string => (s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`);
