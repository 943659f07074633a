import type { Box } from '../inference/types.js';

export type Point = readonly [number, number];

/** Even-odd ray casting; points exactly on an edge may fall either way, which rules tolerate. */
export function pointInPolygon([x, y]: Point, polygon: readonly Point[]): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i]!;
    const [xj, yj] = polygon[j]!;
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Where an object touches the ground: the reference point rules use for zones. */
export function bottomCentre(box: Box): Point {
  return [(box[0] + box[2]) / 2, box[3]];
}
