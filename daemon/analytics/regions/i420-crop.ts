import { i420Layout, type FullFrame } from '../../video/full-frame.js';
import type { Rect } from './region-plan.js';

/**
 * Fixed-point (×1024) YCbCr → RGB coefficients for studio-range video: BT.709 above 576 rows,
 * BT.601 up to it (GStreamer's default colorimetry for caps that name none, so the crop's colours
 * match what the analysis branch's videoconvert hands the model; a 1024×600 camera is BT.709 there).
 */
const BT709 = { y: 1192, rv: 1836, gu: -218, gv: -546, bu: 2163 } as const;
const BT601 = { y: 1192, rv: 1634, gu: -401, gv: -832, bu: 2066 } as const;

const clamp8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/**
 * Writes `region` of an I420 full frame into `out` as packed BGRx of `outWidth`×`outHeight`, the
 * layout the detector's preprocessor reads. At 1:1 (a region of the model's size) each pixel is
 * copied; a larger region is shrunk by nearest-neighbour sampling, which is what a region merged
 * from several moving boxes needs and costs no more than the copy.
 */
export function cropI420ToBgrx(frame: FullFrame, region: Rect, outWidth: number, outHeight: number, out: Buffer): void {
  const { width: W, height: H, data } = frame;
  if (region.x < 0 || region.y < 0 || region.width < 1 || region.height < 1 || region.x + region.width > W || region.y + region.height > H) {
    throw new Error(`region ${region.width}x${region.height}+${region.x}+${region.y} is not inside the ${W}x${H} frame of stream ${frame.streamId}`);
  }
  if (out.length < outWidth * outHeight * 4) throw new Error(`crop buffer holds ${out.length} bytes, ${outWidth * outHeight * 4} needed`);
  const layout = i420Layout(W, H);
  if (data.length < layout.size) throw new Error(`full frame of stream ${frame.streamId} holds ${data.length} bytes, ${layout.size} expected for ${W}x${H} I420`);
  const k = H > 576 ? BT709 : BT601;
  const xs = new Int32Array(outWidth);
  for (let i = 0; i < outWidth; i++) xs[i] = region.x + Math.min(region.width - 1, Math.floor(((i + 0.5) * region.width) / outWidth));
  let o = 0;
  for (let j = 0; j < outHeight; j++) {
    const sy = region.y + Math.min(region.height - 1, Math.floor(((j + 0.5) * region.height) / outHeight));
    const yRow = sy * layout.yStride;
    const uvRow = (sy >> 1) * layout.uvStride;
    for (let i = 0; i < outWidth; i++, o += 4) {
      const sx = xs[i] as number;
      const c = ((data[yRow + sx] as number) - 16) * k.y;
      const u = (data[layout.uOffset + uvRow + (sx >> 1)] as number) - 128;
      const v = (data[layout.vOffset + uvRow + (sx >> 1)] as number) - 128;
      out[o] = clamp8((c + k.bu * u + 512) >> 10);
      out[o + 1] = clamp8((c + k.gu * u + k.gv * v + 512) >> 10);
      out[o + 2] = clamp8((c + k.rv * v + 512) >> 10);
      out[o + 3] = 255;
    }
  }
}
