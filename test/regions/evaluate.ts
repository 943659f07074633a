import { pathToFileURL } from 'node:url';
import { RegionPass } from '../../daemon/analytics/regions/region-pass.js';
import { mergeDetections } from '../../daemon/analytics/regions/region-merge.js';
import { iou } from '../../daemon/analytics/tracker/iou.js';
import { gridRegions, type Region } from '../../daemon/analytics/regions/region-plan.js';
import { streamSchema } from '../../daemon/config/schema.js';
import type { Detector } from '../../daemon/inference/detector.js';
import type { Box, Detection } from '../../daemon/inference/types.js';
import { silentLogger } from '../../daemon/log.js';
import type { FullFrame } from '../../daemon/video/full-frame.js';
import { VideoStream } from '../../daemon/video/stream.js';
import { decodeI420, type Mosaic, type MosaicSpec } from './material.js';

/** Height bands of the reference boxes, in canvas (1080p) pixels. */
export const BANDS = [
  { name: '<40', min: 0, max: 40 },
  { name: '40-80', min: 40, max: 80 },
  { name: '>80', min: 80, max: Number.POSITIVE_INFINITY },
] as const;

/**
 * Pseudo ground truth (not human labels): the detector on crops of each tile's source frame, tiled
 * with overlap so that the clip is seen at `refScale` of its own resolution (1: the model's native
 * scale), mapped onto the canvas, with their scores. Where a tile shows the clip shrunk, this sees
 * it at refScale / tile scale times the tile's resolution.
 */
export async function referenceBoxes(detector: Detector, mosaic: Mosaic, spec: MosaicSpec, i: number, refScale: number, minScore: number): Promise<Detection[]> {
  const size = Math.max(detector.inputSize().width, detector.inputSize().height);
  const pass = new RegionPass({ fullFrame: () => null, modelWidth: size, modelHeight: size, maxRegions: 64, motionThreshold: 25 });
  const side = Math.min(mosaic.sourceWidth, mosaic.sourceHeight, Math.round(size / refScale / 4) * 4);
  const regions = gridRegions(mosaic.sourceWidth, mosaic.sourceHeight, side, Math.round(side / 5));
  const sx = spec.tileWidth / mosaic.sourceWidth;
  const sy = spec.tileHeight / mosaic.sourceHeight;
  const out: Detection[] = [];
  for (let k = 0; k < spec.tiles.length; k++) {
    const tile = spec.tiles[k]!;
    const full = mosaic.source[mosaic.sourceIndex(i, k)] as FullFrame;
    const found = await pass.detectInRegions({ streamId: 'reference', seq: i, ts: i }, { full, regions }, detector);
    const people = mergeDetections([], found.filter((d) => d.label === 'person' && d.score >= minScore), { iou: 0.5, sameObjectIou: 0.3, maxDetections: 300 });
    for (const d of people) out.push({ ...d, box: [tile.x + d.box[0] * sx, tile.y + d.box[1] * sy, tile.x + d.box[2] * sx, tile.y + d.box[3] * sy] });
  }
  return out;
}

export interface Tally {
  /** Reference boxes per band and how many of them were found. */
  refs: number[];
  found: number[];
  /** Detections matching no reference box (at the lower `fpScore` reference), per band of the detection's own height. */
  falsePositives: number[];
  detections: number;
  /** Reference boxes inside a region run on their frame, and how many of those were found (regions only). */
  covered: number[];
  foundCovered: number[];
}

export const newTally = (): Tally => ({
  refs: BANDS.map(() => 0), found: BANDS.map(() => 0), falsePositives: BANDS.map(() => 0), detections: 0,
  covered: BANDS.map(() => 0), foundCovered: BANDS.map(() => 0),
});

const bandOf = (b: Box): number => {
  const h = b[3] - b[1];
  return BANDS.findIndex((band) => h >= band.min && h < band.max);
};

/**
 * Greedy one-to-one matching at IoU ≥ `minIou` (0.3: a box found at a fifth of the resolution is
 * loose around a 30-px person). False positives are judged against a laxer reference, so that a
 * person the reference scored just under its bar is not counted against the approach that found it.
 */
export function tally(t: Tally, detections: readonly Detection[], reference: readonly Box[], laxReference: readonly Box[],
  regions: readonly Region[] = [], minIou = 0.3): void {
  const people = detections.filter((d) => d.label === 'person');
  t.detections += people.length;
  const used = new Set<number>();
  for (const ref of reference) {
    const band = bandOf(ref);
    t.refs[band] = (t.refs[band] ?? 0) + 1;
    let best = -1;
    let bestIou = minIou;
    people.forEach((d, j) => {
      if (used.has(j)) return;
      const v = iou(ref, d.box);
      if (v >= bestIou) {
        best = j;
        bestIou = v;
      }
    });
    const inside = regions.some((r) => ref[0] >= r.x && ref[1] >= r.y && ref[2] <= r.x + r.width && ref[3] <= r.y + r.height);
    if (inside) t.covered[band] = (t.covered[band] ?? 0) + 1;
    if (best >= 0) {
      used.add(best);
      t.found[band] = (t.found[band] ?? 0) + 1;
      if (inside) t.foundCovered[band] = (t.foundCovered[band] ?? 0) + 1;
    }
  }
  for (const d of people) {
    if (laxReference.some((r) => iou(r, d.box) >= minIou)) continue;
    const band = bandOf(d.box);
    t.falsePositives[band] = (t.falsePositives[band] ?? 0) + 1;
  }
}

export interface FrameResult {
  index: number;
  whole: Detection[];
  regions: Detection[];
  regionsRun: number;
  wholeMs: number;
  regionsMs: number;
  /** The pass's motion grid and plan, and reading the full frame. */
  planMs: number;
  /** The regions planned on the frame. */
  planned: Region[];
}

/**
 * The mosaic as the daemon sees it: analysis frames from vigild's own pipeline (VideoStream, scaled
 * to the model's input) and the region pass (its motion grid on them, its crops) on the same frame at full
 * resolution (decoded by GStreamer in a second pipeline, frame for frame: the file is paced, so
 * frame i of one is frame i of the other). Calls `each` with both answers per frame.
 */
export async function analyseMosaic(detector: Detector, mosaic: Mosaic, fps: number, maxRegions: number, frames: number,
  each: (r: FrameResult) => Promise<void> | void, extra: { motionGrid?: number; scanMs?: number } = {}): Promise<RegionPass> {
  const full = await decodeI420(mosaic.file, 1, frames);
  const size = detector.inputSize();
  const config = streamSchema.parse({ id: 'mosaic', uri: pathToFileURL(mosaic.file).href, realtime: false, fps });
  const video = new VideoStream(config, { log: silentLogger(), analysis: { width: size.width, height: size.height, resize: 'fit', format: 'BGRx' } });
  await video.start(new AbortController().signal);
  let current: FullFrame | null = null;
  const pass = new RegionPass({ fullFrame: () => current, modelWidth: size.width, modelHeight: size.height, maxRegions,
    motionThreshold: config.motion.threshold, ...extra });
  try {
    for (let i = 0; i < frames; i++) {
      const pulled = await video.next();
      if (pulled === null) break;
      // Clip time, not decode time: the hold and the scan count the clip's seconds, however fast it decodes.
      const frame = { ...pulled, ts: Math.round((pulled.seq * 1000) / fps) };
      const data = full.frames[frame.seq];
      if (data === undefined) break;
      current = { streamId: 'mosaic', ts: frame.ts, width: full.width, height: full.height, format: 'I420', data };
      const tp = performance.now();
      const job = pass.plan(frame);
      const t0 = performance.now();
      const whole = await detector.detect(frame);
      const t1 = performance.now();
      const runBefore = pass.stats.regionsRun;
      const regions = job === null ? whole : await pass.detect(frame, job, { detect: (f) => (f === frame ? Promise.resolve(whole) : detector.detect(f)) });
      const t2 = performance.now();
      await each({ index: frame.seq, whole, regions, regionsRun: pass.stats.regionsRun - runBefore, wholeMs: t1 - t0, regionsMs: t2 - t1, planMs: t0 - tp,
        planned: job?.regions ?? [] });
    }
  } finally {
    await video.stop();
  }
  return pass;
}
