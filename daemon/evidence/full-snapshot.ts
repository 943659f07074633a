import { toPixels } from '../analytics/rules/geometry.js';
import type { RuleHit } from '../analytics/rules/types.js';
import { trackOf } from '../events/event-kinds.js';
import type { RuleConfig } from '../config/schema.js';
import type { FullFrame } from '../video/full-frame.js';
import { I420Canvas, textHeight, textWidth, type Point, type Rgb } from './i420-draw.js';
import type { I420Image } from './jpeg-encoder.js';

/**
 * A snapshot at the camera's resolution: the newest decoded frame of the stream's full-resolution
 * branch, with the event's boxes, track ids, labels and its rule's zones and lines drawn on the
 * I420 planes in place, then scaled to `evidence.max_width` and encoded by GStreamer
 * (gst-jpeg-encoder.ts). Everything here runs after the event was recorded, never on the frame path.
 */

export interface OverlayObject {
  /** x1, y1, x2, y2 in the pixels of `SnapshotOverlay.size`. */
  readonly box: readonly [number, number, number, number];
  readonly label: string;
  readonly trackId?: number;
}

export interface SnapshotOverlay {
  /** The event's own object first (red), the others (yellow). */
  readonly objects: readonly OverlayObject[];
  /** Closed polygons and polylines of the rules, in the same pixels as the boxes. */
  readonly zones: readonly (readonly Point[])[];
  readonly lines: readonly (readonly Point[])[];
  /** The frame size the coordinates are in (the analysis frame's source size); absent: the full frame's. */
  readonly size?: { readonly width: number; readonly height: number };
  /** Whether the first object is the event's own (red); false for a live view's tracks (all yellow). */
  readonly firstIsEvent?: boolean;
}

export const EMPTY_OVERLAY: SnapshotOverlay = { objects: [], zones: [], lines: [] };

export const EVENT_COLOUR: Rgb = [255, 32, 32];
export const OTHER_COLOUR: Rgb = [255, 220, 0];
export const ZONE_COLOUR: Rgb = [0, 200, 255];
export const LINE_COLOUR: Rgb = [255, 0, 255];
const TEXT_COLOUR: Rgb = [0, 0, 0];

/** The JPEG's size for a `width`×`height` frame: at most `maxWidth` wide, aspect kept, even sides. */
export function snapshotSize(width: number, height: number, maxWidth: number): { width: number; height: number } {
  if (width <= maxWidth) return { width, height };
  const even = (v: number): number => Math.max(2, Math.round(v / 2) * 2);
  return { width: even(maxWidth), height: even((height * maxWidth) / width) };
}

/** Zones and lines of the rules in source pixels of a `width`×`height` frame, as the rules apply them. */
export function ruleGeometry(rules: readonly RuleConfig[], width: number, height: number): Pick<SnapshotOverlay, 'zones' | 'lines'> {
  const zones: Point[][] = [];
  const lines: Point[][] = [];
  for (const r of rules) {
    if (r.kind === 'line') lines.push(toPixels(r.line, r.units, width, height));
    else if (r.zone !== undefined) zones.push(toPixels(r.zone, r.units, width, height));
  }
  return { zones, lines };
}

/**
 * What an event's snapshot draws: its objects (the first with the event's track id), its rule's
 * zone or line; null without a full frame (the analysis frame is used then).
 */
export function eventCapture(hit: RuleHit, frame: FullFrame | null, rules: readonly RuleConfig[]): { frame: FullFrame; overlay: SnapshotOverlay } | null {
  if (frame === null) return null;
  const width = hit.frame?.sourceWidth ?? frame.width;
  const height = hit.frame?.sourceHeight ?? frame.height;
  const trackId = trackOf(hit.facts);
  const rule = rules.filter((r) => r.id === hit.ruleId && r.stream === hit.streamId);
  const objects = hit.objects.map((o, i) => ({ box: o.box, label: o.label, ...(i === 0 && trackId !== undefined ? { trackId } : {}) }));
  return { frame, overlay: { objects, ...ruleGeometry(rule, width, height), size: { width, height } } };
}

/** `#12 PERSON`, or the label alone for an object without a track. */
export function labelText(o: OverlayObject): string {
  return `${o.trackId !== undefined ? `#${o.trackId} ` : ''}${o.label}`.toUpperCase();
}

/**
 * Draws `overlay` into the frame's own bytes (the frame is a copy made for this snapshot) and
 * returns the image to encode at `maxWidth`. Thicknesses and text grow with the frame so that
 * they are still visible once scaled down.
 */
export function renderFullSnapshot(frame: FullFrame, overlay: SnapshotOverlay, maxWidth: number): I420Image {
  const { width, height } = frame;
  const out = snapshotSize(width, height, maxWidth);
  const canvas = new I420Canvas(frame.data, width, height);
  const sx = overlay.size ? width / overlay.size.width : 1;
  const sy = overlay.size ? height / overlay.size.height : 1;
  const map = (p: Point): Point => [p[0] * sx, p[1] * sy];
  // Sizes in output pixels, drawn at the frame's scale: 2 px lines and 2-pixel font cells in the JPEG.
  const k = width / out.width;
  const even = (v: number): number => Math.max(2, Math.round(v / 2) * 2);
  const thick = even(Math.max(2, out.height / 360) * k);
  const scale = even(Math.max(2, Math.round(out.height / 400)) * k);
  for (const z of overlay.zones) canvas.polyline(z.map(map), ZONE_COLOUR, thick, true);
  for (const l of overlay.lines) canvas.polyline(l.map(map), LINE_COLOUR, thick, false);
  // The others first, so the event's own object is drawn on top.
  for (let i = overlay.objects.length - 1; i >= 0; i--) {
    const o = overlay.objects[i]!;
    const colour = i === 0 && overlay.firstIsEvent !== false ? EVENT_COLOUR : OTHER_COLOUR;
    const [x1, y1] = map([o.box[0], o.box[1]]);
    const [x2, y2] = map([o.box[2], o.box[3]]);
    canvas.strokeRect(x1, y1, x2, y2, colour, thick);
    const text = labelText(o);
    if (text.length === 0) continue;
    // A tag in the box's colour above its top-left corner (below it when the box touches the top).
    const pad = scale;
    const tagH = textHeight(scale) + 2 * pad;
    const tagW = textWidth(text, scale) + 2 * pad;
    const left = Math.max(0, Math.min(width - tagW, Math.min(x1, x2)));
    const top = Math.min(y1, y2) - tagH >= 0 ? Math.min(y1, y2) - tagH : Math.min(height - tagH, Math.max(y1, y2) + 1);
    canvas.fillRect(left, top, left + tagW - 1, top + tagH - 1, colour);
    canvas.text(left + pad, top + pad, text, TEXT_COLOUR, scale);
  }
  return { data: frame.data, width, height, format: 'I420', outWidth: out.width, outHeight: out.height };
}
