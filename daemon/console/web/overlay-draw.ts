import { labelColour, ruleColour, sideMarkers } from './geometry.js';
import type { Overlay, Point } from './types.js';

/**
 * Draws a frame and its overlay on a canvas: the picture, the rules' zones and lines, then the
 * tracks (boxes, ids, labels). The overlay is in source pixels; the picture may be smaller
 * (snapshot.jpg?max_width=…) and a canvas over a <video> is the size of the tile, so everything is
 * scaled to the canvas.
 */
export function drawFrame(ctx: CanvasRenderingContext2D, image: CanvasImageSource, width: number, height: number, overlay: Overlay | null): void {
  const { canvas } = ctx;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  ctx.drawImage(image, 0, 0);
  drawOverlay(ctx, overlay);
}

/** The overlay alone, over whatever the canvas shows (cleared first when it lies over a <video>). */
export function drawOverlay(ctx: CanvasRenderingContext2D, overlay: Overlay | null): void {
  const { canvas } = ctx;
  if (overlay === null || overlay.width === null || overlay.height === null || overlay.width <= 0 || overlay.height <= 0) return;
  const sx = canvas.width / overlay.width;
  const sy = canvas.height / overlay.height;
  const px = (p: Point): Point => [p[0] * sx, p[1] * sy];
  const font = Math.max(11, Math.round(canvas.width / 55));
  ctx.font = `${font}px system-ui, sans-serif`;
  ctx.lineWidth = Math.max(1.5, canvas.width / 400);

  for (const z of overlay.zones) {
    const pts = z.points.map(px);
    if (pts.length < 2) continue;
    const colour = ruleColour(z.rule ?? '');
    path(ctx, pts, true);
    ctx.fillStyle = withAlpha(colour, 0.18);
    ctx.fill();
    ctx.strokeStyle = colour;
    ctx.stroke();
    tag(ctx, z.rule ?? 'zone', pts[0]!, colour, font);
  }
  for (const l of overlay.lines) {
    const pts = l.points.map(px);
    if (pts.length < 2) continue;
    const colour = ruleColour(l.rule ?? '');
    path(ctx, pts, false);
    ctx.strokeStyle = colour;
    ctx.stroke();
    for (const m of sideMarkers(pts)) {
      for (const [side, k] of [['a', 1], ['b', -1]] as const) {
        ctx.fillStyle = colour;
        ctx.fillText(side, m.mid[0] + k * m.towardA[0] * font - font / 4, m.mid[1] + k * m.towardA[1] * font + font / 3);
      }
    }
    tag(ctx, l.rule ?? 'line', pts[0]!, colour, font);
  }
  for (const t of overlay.tracks) {
    const [x1, y1] = px([t.box[0], t.box[1]]);
    const [x2, y2] = px([t.box[2], t.box[3]]);
    const colour = labelColour(t.label);
    ctx.strokeStyle = colour;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    tag(ctx, `${t.id === null ? '' : `#${t.id} `}${t.label}${t.score === null ? '' : ` ${t.score.toFixed(2)}`}`, [x1, y1], colour, font);
  }
}

function path(ctx: CanvasRenderingContext2D, pts: Point[], close: boolean): void {
  ctx.beginPath();
  pts.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
  if (close) ctx.closePath();
}

/** A label on a dark plate above `at`, readable on any picture. */
function tag(ctx: CanvasRenderingContext2D, text: string, at: Point, colour: string, font: number): void {
  const w = ctx.measureText(text).width + font / 2;
  const y = Math.max(0, at[1] - font - 4);
  ctx.fillStyle = 'rgba(0,0,0,0.6)';
  ctx.fillRect(at[0], y, w, font + 4);
  ctx.fillStyle = colour;
  ctx.fillText(text, at[0] + font / 4, y + font);
}

const withAlpha = (hsl: string, alpha: number): string => hsl.replace(')', ` / ${alpha})`);
