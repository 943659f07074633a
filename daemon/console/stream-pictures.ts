import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { openJpegEncoder } from '../evidence/choose-encoder.js';
import { renderFullSnapshot, ruleGeometry, snapshotSize } from '../evidence/full-snapshot.js';
import type { JpegEncoder } from '../evidence/jpeg-encoder.js';
import type { Logger } from '../log.js';
import type { FullFrame } from '../video/full-frame.js';
import type { StreamPictures } from './console-api.js';

/**
 * What the console reads of the running streams (the StreamSupervisor, as parts.video). Its objects
 * carry a score and the time they were seen (StreamAnalyzer.latestObjects); a source that has none
 * leaves them out.
 */
export interface PictureSource {
  latestFullFrame(id: string): FullFrame | null;
  latestObjects?(id: string): SeenObjects | null;
}
export interface SeenObjects {
  readonly at?: number;
  readonly width: number;
  readonly height: number;
  readonly objects: readonly { readonly id: number | null; readonly label: string; readonly score?: number; readonly box: readonly [number, number, number, number] }[];
}

/** A JPEG made for one viewer is given to the others asking within this long: N viewers polling cost one encode. */
const SHARE_MS = 250;
/**
 * A stream's full frame is read at most this often, whatever the viewers and variants: each read
 * copies megabytes (3 MiB at 1080p). As often as a shared JPEG is made, so a viewer's picture is at
 * most this old. (Reads once leaked the frame, in gstreamer-superficial's getter; patched at install.)
 */
const FRAME_EVERY_MS = SHARE_MS;
const OBJECT_LABEL = (o: SeenObjects['objects'][number]): string => (o.score === undefined ? o.label : `${o.label} ${Math.round(o.score * 100)}%`);

/**
 * Live pictures for the console: the newest full-resolution frame of a stream as a JPEG (with the
 * tracks, zones and lines drawn when asked, by the evidence snapshots' own drawing), and the overlay
 * as data for the browser to draw itself. Off the frame path: a frame is copied out when a viewer
 * asks, drawn on the copy and encoded by the evidence encoder (GStreamer's, off the main thread);
 * at most one encode per stream and variant at a time, shared by every viewer asking meanwhile.
 */
export class LivePictures implements StreamPictures {
  private encoder: Promise<JpegEncoder> | null = null;
  private readonly recent = new Map<string, { at: number; jpeg: Promise<{ jpeg: Buffer; ts: number }> }>();
  private readonly frames = new Map<string, { at: number; frame: FullFrame }>();

  constructor(private readonly source: PictureSource, private readonly cfg: () => Config, private readonly log: Logger,
    private readonly now: () => number = Date.now) {}

  snapshot(stream: string, opts: { overlay: boolean; maxWidth: number | null }): Promise<{ jpeg: Buffer; ts: number }> {
    const key = `${stream}|${opts.overlay ? 1 : 0}|${opts.maxWidth ?? ''}`;
    const at = this.now();
    const hit = this.recent.get(key);
    if (hit && at - hit.at < SHARE_MS) return hit.jpeg;
    for (const [k, v] of this.recent) if (at - v.at > 10 * SHARE_MS) this.recent.delete(k);
    const jpeg = this.make(stream, opts);
    this.recent.set(key, { at, jpeg });
    // A failure is not shared beyond the callers that were already waiting for it.
    jpeg.catch(() => { if (this.recent.get(key)?.jpeg === jpeg) this.recent.delete(key); });
    return jpeg;
  }

  overlay(stream: string): unknown {
    this.known(stream);
    // Never the full frame here: reading it copies megabytes, and viewers poll this several times a second.
    const latest = this.source.latestObjects?.(stream) ?? null;
    const width = latest?.width ?? null;
    const height = latest?.height ?? null;
    const rules = this.cfg().rules.filter((r) => r.stream === stream);
    const geometry = width !== null && height !== null ? ruleGeometry(rules, width, height) : { zones: [], lines: [] };
    const zoneRules = rules.filter((r) => r.kind !== 'line' && r.zone !== undefined);
    const lineRules = rules.filter((r) => r.kind === 'line');
    return {
      ts: latest?.at ?? null, width, height,
      tracks: (latest?.objects ?? []).map((o) => ({
        id: o.id, label: o.label, score: o.score === undefined ? null : Math.round(o.score * 1000) / 1000, box: o.box.map(Math.round),
      })),
      zones: geometry.zones.map((points, i) => ({ rule: zoneRules[i]?.id ?? null, points })),
      lines: geometry.lines.map((points, i) => ({ rule: lineRules[i]?.id ?? null, points })),
    };
  }

  async stop(): Promise<void> {
    const encoder = this.encoder;
    this.encoder = null;
    if (encoder) await encoder.then((e) => e.close(), () => undefined);
  }

  private known(stream: string): void {
    if (!this.cfg().streams.some((s) => s.id === stream)) throw new Error(`no stream "${stream}" on this device`);
  }

  private async make(stream: string, opts: { overlay: boolean; maxWidth: number | null }): Promise<{ jpeg: Buffer; ts: number }> {
    this.known(stream);
    const frame = this.frameOf(stream);
    if (frame === null) throw new Error(`stream "${stream}" has no frame yet (starting, stopped, or without a full-resolution branch)`);
    const { evidence } = this.cfg();
    const maxWidth = Math.min(opts.maxWidth ?? evidence.max_width, evidence.max_width);
    let image;
    if (opts.overlay) {
      const latest = this.source.latestObjects?.(stream) ?? null;
      const size = latest ? { width: latest.width, height: latest.height } : { width: frame.width, height: frame.height };
      const rules = this.cfg().rules.filter((r) => r.stream === stream);
      // Drawn on a copy: the frame is shared by the viewers of the next second.
      image = renderFullSnapshot({ ...frame, data: Buffer.from(frame.data) }, {
        objects: (latest?.objects ?? []).map((o) => ({ box: [...o.box], label: OBJECT_LABEL(o), ...(o.id !== null ? { trackId: o.id } : {}) })),
        ...ruleGeometry(rules, size.width, size.height), size,
      }, maxWidth);
    } else {
      const out = snapshotSize(frame.width, frame.height, maxWidth);
      // A copy: an encoder may transfer the bytes it is given (jpeg-js to its worker), and the frame is shared.
      image = { data: Buffer.from(frame.data), width: frame.width, height: frame.height, format: 'I420' as const, outWidth: out.width, outHeight: out.height };
    }
    const encoder = await this.openEncoder();
    return { jpeg: await encoder.encode(image, evidence.quality), ts: frame.ts };
  }

  /** The stream's newest full frame, read at most once per FRAME_EVERY_MS. */
  private frameOf(stream: string): FullFrame | null {
    const at = this.now();
    const cached = this.frames.get(stream);
    if (cached && at - cached.at < FRAME_EVERY_MS) return cached.frame;
    for (const [k, v] of this.frames) if (at - v.at > 10 * FRAME_EVERY_MS) this.frames.delete(k);
    const frame = this.source.latestFullFrame(stream);
    if (frame === null) this.frames.delete(stream);
    else this.frames.set(stream, { at, frame });
    return frame;
  }

  private openEncoder(): Promise<JpegEncoder> {
    if (this.encoder === null) {
      const opening = openJpegEncoder(this.cfg().evidence.encoder);
      opening.catch((err: unknown) => {
        this.log.warn({ err: errorMessage(err) }, 'console: no JPEG encoder for live snapshots');
        this.encoder = null;
      });
      this.encoder = opening;
    }
    return this.encoder;
  }
}
