import type { Frame } from '../video/frame.js';
import type { InputSpec } from './manifest.js';
import type { Box, Placement } from './types.js';

/**
 * A model-input tensor and the frame layout whose padding it holds. The inference worker's parent
 * keeps a few of these and hands them to the worker and back (transferred, not copied).
 */
export interface InputTarget {
  tensor: Float32Array;
  /** Size and offset of the image last written, '' when the padding was never written. */
  layoutKey: string;
}

/** The input of a run of several frames: one buffer, and one fill target (a view of it) per frame. */
export interface BatchTarget {
  data: Float32Array;
  targets: InputTarget[];
}

/**
 * Turns a packed 32-bit frame into the model's float input in one pass over the pixels.
 *
 * The tensor is allocated once per detector and reused: at several frames per second per stream,
 * a fresh 2 MB Float32Array per frame is steady garbage-collector pressure on a small board.
 * Padding is written only when the frame's placement changes (a stream's frame size is fixed),
 * because the image pass overwrites exactly the same pixels every time.
 */
export class Preprocessor {
  readonly tensor: Float32Array;
  readonly dims: readonly number[];
  private readonly offset: [number, number, number];
  private readonly mul: [number, number, number];
  private readonly own: InputTarget;

  constructor(private readonly spec: InputSpec) {
    this.tensor = new Float32Array(3 * spec.width * spec.height);
    this.own = { tensor: this.tensor, layoutKey: '' };
    const { width, height } = spec;
    this.dims = spec.layout === 'nchw' ? [1, 3, height, width] : [1, height, width, 3];
    const inv = spec.std ? spec.std.map((s) => 1 / s) : [1, 1, 1].map(() => spec.scale ?? 1);
    this.mul = [inv[0] ?? 1, inv[1] ?? 1, inv[2] ?? 1];
    this.offset = [...spec.mean];
  }

  /** A fresh input for `frames` frames in one buffer, each frame's `fill` target a view of it. */
  newBatch(frames: number): BatchTarget {
    const per = this.tensor.length;
    const data = new Float32Array(frames * per);
    return { data, targets: Array.from({ length: frames }, (_, i) => ({ tensor: data.subarray(i * per, (i + 1) * per), layoutKey: '' })) };
  }

  /** Points a batch at `buffer` (its own memory, back from a transfer); each target keeps its padding layout. */
  rebind(batch: BatchTarget, buffer: ArrayBuffer): void {
    const per = this.tensor.length;
    batch.data = new Float32Array(buffer);
    batch.targets.forEach((t, i) => { t.tensor = batch.data.subarray(i * per, (i + 1) * per); });
  }

  /** Where a frame of this size lands in the input; throws when the pipeline delivered the wrong size. */
  placement(frame: Pick<Frame, 'width' | 'height' | 'sourceWidth' | 'sourceHeight'>): Placement {
    const { width: W, height: H } = this.spec;
    const { width: w, height: h } = frame;
    if (this.spec.resize === 'stretch') {
      if (w !== W || h !== H) throw new Error(`frame is ${w}x${h}, but a stretched model input needs exactly ${W}x${H}`);
    } else if (w > W || h > H || w < 1 || h < 1) {
      throw new Error(`frame is ${w}x${h}, larger than the model input ${W}x${H} (the pipeline must scale it to fit)`);
    }
    const centre = this.spec.resize === 'letterbox' && this.spec.letterbox_align === 'centre';
    return {
      scaleX: w / frame.sourceWidth,
      scaleY: h / frame.sourceHeight,
      padX: centre ? Math.floor((W - w) / 2) : 0,
      padY: centre ? Math.floor((H - h) / 2) : 0,
      sourceWidth: frame.sourceWidth,
      sourceHeight: frame.sourceHeight,
    };
  }

  /** Fills the target (by default `tensor`) from the frame and returns how the frame was placed. */
  fill(frame: Frame, target: InputTarget = this.own): Placement {
    const p = this.placement(frame);
    const { width: W, height: H, layout } = this.spec;
    const { width: w, height: h, data } = frame;
    if (data.length < w * h * 4) throw new Error(`frame data holds ${data.length} bytes, expected ${w * h * 4} for ${w}x${h} ${frame.format}`);
    const t = target.tensor;
    if (t.length !== 3 * W * H) throw new Error(`input tensor holds ${t.length} values, expected ${3 * W * H} for ${W}x${H}x3`);

    const layoutKey = `${w}x${h}+${p.padX}+${p.padY}`;
    if (layoutKey !== target.layoutKey) {
      this.fillPadding(t);
      target.layoutKey = layoutKey;
    }

    // Byte offset within a pixel of the model's channel 0, 1, 2.
    const srcIsBgr = frame.format === 'BGRx' || frame.format === 'BGRA';
    const wantBgr = this.spec.colour === 'bgr';
    const c0 = srcIsBgr === wantBgr ? 0 : 2;
    const c2 = 2 - c0;
    const [m0, m1, m2] = this.offset;
    const [k0, k1, k2] = this.mul;

    if (layout === 'nchw') {
      const plane = W * H;
      for (let y = 0; y < h; y++) {
        let src = y * w * 4;
        let dst = (y + p.padY) * W + p.padX;
        for (let x = 0; x < w; x++, src += 4, dst++) {
          t[dst] = ((data[src + c0] as number) - m0) * k0;
          t[dst + plane] = ((data[src + 1] as number) - m1) * k1;
          t[dst + 2 * plane] = ((data[src + c2] as number) - m2) * k2;
        }
      }
    } else {
      for (let y = 0; y < h; y++) {
        let src = y * w * 4;
        let dst = ((y + p.padY) * W + p.padX) * 3;
        for (let x = 0; x < w; x++, src += 4, dst += 3) {
          t[dst] = ((data[src + c0] as number) - m0) * k0;
          t[dst + 1] = ((data[src + 1] as number) - m1) * k1;
          t[dst + 2] = ((data[src + c2] as number) - m2) * k2;
        }
      }
    }
    return p;
  }

  private fillPadding(t: Float32Array): void {
    const { width: W, height: H, layout, pad_value: pad } = this.spec;
    const v = this.offset.map((m, c) => (pad - m) * (this.mul[c] ?? 1));
    if (layout === 'nchw') {
      const plane = W * H;
      for (let c = 0; c < 3; c++) t.fill(v[c] ?? 0, c * plane, (c + 1) * plane);
    } else {
      const [v0 = 0, v1 = 0, v2 = 0] = v;
      for (let i = 0; i < t.length; i += 3) {
        t[i] = v0;
        t[i + 1] = v1;
        t[i + 2] = v2;
      }
    }
  }
}

/** Maps a box from model-input pixels back to source pixels, clipped to the source frame. */
export function toSourceBox(x1: number, y1: number, x2: number, y2: number, p: Placement): Box {
  const clip = (v: number, max: number): number => (v < 0 ? 0 : v > max ? max : v);
  return [
    clip((x1 - p.padX) / p.scaleX, p.sourceWidth),
    clip((y1 - p.padY) / p.scaleY, p.sourceHeight),
    clip((x2 - p.padX) / p.scaleX, p.sourceWidth),
    clip((y2 - p.padY) / p.scaleY, p.sourceHeight),
  ];
}
