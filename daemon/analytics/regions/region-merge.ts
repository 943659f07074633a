import { nms, type Candidate } from '../../inference/nms.js';
import { iou } from '../tracker/iou.js';
import type { Box, Detection } from '../../inference/types.js';
import type { Rect } from './region-plan.js';

/** A region detection this close (source px) to an edge of its region that is not the frame's is cut by that edge. */
const EDGE_PX = 2;

/**
 * Whether a detection in `region` runs into one of its inner edges: the object goes on outside
 * the crop, so its box is a part of it. The whole-frame pass (or the region around it next
 * frame) sees it whole; keeping the part would add a second, smaller box of the same object.
 */
export function cutByRegionEdge(box: Box, region: Rect, frameWidth: number, frameHeight: number): boolean {
  const [x1, y1, x2, y2] = box;
  const right = region.x + region.width;
  const bottom = region.y + region.height;
  return (region.x > 0 && x1 - region.x <= EDGE_PX)
    || (region.y > 0 && y1 - region.y <= EDGE_PX)
    || (right < frameWidth && right - x2 <= EDGE_PX)
    || (bottom < frameHeight && bottom - y2 <= EDGE_PX);
}

export interface MergeOptions {
  /** NMS between detections of overlapping regions (the model's own IoU threshold). */
  iou: number;
  /**
   * A whole-frame detection is the same object as a region detection of its class above this IoU.
   * Low, because a box found at a fifth of the resolution is loose around a small object.
   */
  sameObjectIou: number;
  maxDetections: number;
}

/**
 * One list from the whole-frame pass and the region passes, highest score first: region detections
 * (NMS among themselves, where regions overlap) win over the whole-frame detection of the same
 * object, since they saw it at several times the resolution; whole-frame detections that no region
 * detection matches (big objects, still ones, those outside every region) are kept as they are.
 */
export function mergeDetections(whole: readonly Detection[], regional: readonly Detection[], opts: MergeOptions): Detection[] {
  if (regional.length === 0) return [...whole];
  const candidates: (Candidate & { d: Detection })[] = regional.map((d) => ({
    classId: d.classId, score: d.score, x1: d.box[0], y1: d.box[1], x2: d.box[2], y2: d.box[3], d,
  }));
  const kept = (nms(candidates, opts.iou, opts.maxDetections) as (Candidate & { d: Detection })[]).map((c) => c.d);
  const out = [...kept];
  for (const w of whole) {
    if (!kept.some((r) => r.classId === w.classId && iou(r.box, w.box) > opts.sameObjectIou)) out.push(w);
  }
  out.sort((a, b) => b.score - a.score);
  return out.slice(0, opts.maxDetections);
}
