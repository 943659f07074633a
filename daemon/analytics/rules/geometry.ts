import type { Box } from '../../inference/types.js';
import { bottomCentre, type Point } from '../geometry.js';

export type Anchor = 'bottom_centre' | 'centre';

export function anchorPoint(box: Box, anchor: Anchor): Point {
  return anchor === 'centre' ? [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2] : bottomCentre(box);
}

/** The frame size that `px` geometry was drawn for (the stream's first size; see pxScale). */
export interface PxReference {
  readonly width: number;
  readonly height: number;
}

/**
 * How `px` geometry drawn for `reference` scales to a `width`×`height` frame: 1 until the camera
 * changes its resolution mid-stream. Points are then moved with the picture (a zone around a door
 * at 1080p stays around that door at 720p), on the assumption that a resolution change re-encodes
 * the same view. Which size px points were drawn for is not in the config, so the first size the
 * stream delivered stands for it; `units: norm` avoids the question (stream-analyzer.ts says so).
 */
export function pxScale(width: number, height: number, reference?: PxReference): [number, number] {
  if (reference === undefined || reference.width <= 0 || reference.height <= 0 || width <= 0 || height <= 0) return [1, 1];
  return [width / reference.width, height / reference.height];
}

/** Config points in `norm` units are fractions of the camera frame; rules work in source pixels. */
export function toPixels(points: readonly Point[], units: 'px' | 'norm', width: number, height: number,
  reference?: PxReference): [number, number][] {
  if (units === 'norm') return points.map(([x, y]) => [x * width, y * height]);
  const [sx, sy] = pxScale(width, height, reference);
  return points.map(([x, y]) => [x * sx, y * sy]);
}

/** Lengths (margins, radii) in `norm` units are fractions of the frame diagonal, so they do not depend on the aspect. */
export function toPixelLength(length: number, units: 'px' | 'norm', width: number, height: number, reference?: PxReference): number {
  if (units === 'norm') return length * Math.hypot(width, height);
  return reference === undefined || reference.width <= 0 || reference.height <= 0
    ? length : length * Math.hypot(width, height) / Math.hypot(reference.width, reference.height);
}

export const distance = (a: Point, b: Point): number => Math.hypot(a[0] - b[0], a[1] - b[1]);

/**
 * Signed distance from `p` to the nearest segment of a polyline: negative on the left of the walk
 * from its first point to its last as seen on screen (y grows downwards), positive on the right.
 */
export function signedDistance(p: Point, line: readonly Point[]): number {
  let best = Number.POSITIVE_INFINITY;
  let sign = 1;
  for (let i = 0; i + 1 < line.length; i++) {
    const [ax, ay] = line[i]!;
    const [bx, by] = line[i + 1]!;
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((p[0] - ax) * dx + (p[1] - ay) * dy) / len2));
    const d = Math.hypot(p[0] - (ax + t * dx), p[1] - (ay + t * dy));
    if (d < best) {
      best = d;
      const cross = dx * (p[1] - ay) - dy * (p[0] - ax);
      sign = cross < 0 ? -1 : 1;
    }
  }
  return sign * best;
}

function segmentsIntersect(p1: Point, p2: Point, q1: Point, q2: Point): boolean {
  const orient = (a: Point, b: Point, c: Point): number => (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
  const d1 = orient(q1, q2, p1);
  const d2 = orient(q1, q2, p2);
  const d3 = orient(p1, p2, q1);
  const d4 = orient(p1, p2, q2);
  return ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0));
}

/** Whether a movement from `from` to `to` passes through the polyline itself, not around one of its ends. */
export function crossesPolyline(from: Point, to: Point, line: readonly Point[]): boolean {
  for (let i = 0; i + 1 < line.length; i++) if (segmentsIntersect(from, to, line[i]!, line[i + 1]!)) return true;
  return false;
}
