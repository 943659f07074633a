import type { Point } from './types.js';

/**
 * Which side of a line is `a`, as the line rule decides it (daemon/analytics/rules/geometry.ts
 * signedDistance): walking the polyline from its first point to its last as seen on screen (y
 * grows downwards), `a` is on the left and `b` on the right. For each segment: its midpoint and
 * the unit normal pointing into side `a`, where the editor and the live view write the letters.
 */
export function sideMarkers(line: readonly Point[]): { mid: Point; towardA: Point; along: Point }[] {
  const out: { mid: Point; towardA: Point; along: Point }[] = [];
  for (let i = 0; i + 1 < line.length; i++) {
    const [ax, ay] = line[i]!;
    const [bx, by] = line[i + 1]!;
    const len = Math.hypot(bx - ax, by - ay);
    if (len === 0) continue;
    const dx = (bx - ax) / len;
    const dy = (by - ay) / len;
    // (dy, -dx) has a negative cross product with the walk: signedDistance < 0, side a.
    out.push({ mid: [(ax + bx) / 2, (ay + by) / 2], towardA: [dy, -dx], along: [dx, dy] });
  }
  return out;
}

/** The same test as the daemon's signedDistance sign, for one point against one segment's line. */
export function sideOf(p: Point, a: Point, b: Point): 'a' | 'b' {
  const cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
  return cross < 0 ? 'a' : 'b';
}

/** A stable colour per label, so that a person is the same colour in every view. */
export function labelColour(label: string): string {
  let h = 0;
  for (let i = 0; i < label.length; i++) h = (h * 31 + label.charCodeAt(i)) % 360;
  return `hsl(${h} 90% 65%)`;
}

export const ruleColour = (rule: string): string => labelColour(`rule:${rule}`);
