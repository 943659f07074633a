import type { TrackConfig, VideoCodec } from './access-unit.js';
import type { GstCaps } from './gst.js';

/**
 * Reading H.264/H.265 in MP4 form (ISO/IEC 14496-15): the avcC/hvcC record the parser puts in its
 * caps as `codec_data`, and access units of length-prefixed NAL units.
 */

/** H.264 IDR slice (nal_unit_type 5). */
const H264_IDR = 5;
/** H.265 IRAP pictures: BLA, IDR and CRA (nal_unit_type 16..23). */
const H265_IRAP_FIRST = 16;
const H265_IRAP_LAST = 23;

/** Bytes of each NAL unit's length prefix, from the record (lengthSizeMinusOne + 1); 4 when unreadable. */
export function nalLengthSize(codec: VideoCodec, description: Uint8Array): number {
  const byte = codec === 'h264' ? description[4] : description[21];
  return byte === undefined ? 4 : (byte & 0x03) + 1;
}

/** Whether the access unit holds a picture a decoder can start at (IDR / IRAP). Stops at the first bad length. */
export function isKeyAccessUnit(codec: VideoCodec, data: Uint8Array, lengthSize = 4): boolean {
  let o = 0;
  while (o + lengthSize < data.length) {
    let len = 0;
    for (let i = 0; i < lengthSize; i++) len = len * 256 + data[o + i]!;
    const header = data[o + lengthSize]!;
    if (codec === 'h264') {
      if ((header & 0x1f) === H264_IDR) return true;
    } else {
      const type = (header >> 1) & 0x3f;
      if (type >= H265_IRAP_FIRST && type <= H265_IRAP_LAST) return true;
    }
    if (len === 0) return false;
    o += lengthSize + len;
  }
  return false;
}

const hex2 = (b: number): string => b.toString(16).padStart(2, '0');

/** `avc1.PPCCLL` from an avcC record (profile, constraint flags, level: bytes 1..3). */
export function avcCodecString(avcC: Uint8Array): string {
  if (avcC.length < 4 || avcC[0] !== 1) throw new Error(`not an avcC record (${avcC.length} bytes, version ${avcC[0] ?? 'none'})`);
  return `avc1.${hex2(avcC[1]!)}${hex2(avcC[2]!)}${hex2(avcC[3]!)}`;
}

/**
 * `hvc1.<space><profile>.<compat>.<tier><level>[.<constraints>]` from an hvcC record, as ISO/IEC
 * 14496-15 Annex E writes it: compatibility flags bit-reversed in hex, constraint bytes with the
 * trailing zero bytes left out.
 */
export function hevcCodecString(hvcC: Uint8Array): string {
  if (hvcC.length < 13 || hvcC[0] !== 1) throw new Error(`not an hvcC record (${hvcC.length} bytes, version ${hvcC[0] ?? 'none'})`);
  const b1 = hvcC[1]!;
  const space = ['', 'A', 'B', 'C'][b1 >> 6]!;
  const tier = (b1 & 0x20) !== 0 ? 'H' : 'L';
  const profile = b1 & 0x1f;
  let compat = 0;
  for (let i = 0; i < 4; i++) compat = compat * 256 + hvcC[2 + i]!;
  let reversed = 0;
  for (let i = 0; i < 32; i++) reversed = reversed * 2 + ((compat >>> i) & 1);
  const constraints = [...hvcC.subarray(6, 12)];
  while (constraints.length > 0 && constraints[constraints.length - 1] === 0) constraints.pop();
  const tail = constraints.map((c) => `.${c.toString(16).toUpperCase()}`).join('');
  return `hvc1.${space}${profile}.${reversed.toString(16).toUpperCase()}.${tier}${hvcC[12]!}${tail}`;
}

/** Frames per second from a caps `framerate` ("30000/1001"); 0 where absent or variable (0/1). */
export function capsFps(caps: GstCaps): number {
  const f = caps['framerate'];
  if (typeof f !== 'string') return 0;
  const m = /^(\d+)\/(\d+)$/.exec(f);
  if (!m) return 0;
  const n = Number(m[1]);
  const d = Number(m[2]);
  return d > 0 ? n / d : 0;
}

/**
 * The track of the access-unit branch's caps, or an error naming what is missing: caps of the
 * expected codec in MP4 form with their codec_data record and a size.
 */
export function trackFromCaps(caps: GstCaps): TrackConfig | Error {
  const name = caps.name;
  const codec: VideoCodec | null = name === 'video/x-h264' ? 'h264' : name === 'video/x-h265' ? 'h265' : null;
  if (codec === null) return new Error(`access-unit caps are ${String(name)}, not H.264/H.265`);
  const description = caps['codec_data'];
  if (!Buffer.isBuffer(description)) return new Error(`${codec} caps have no codec_data (stream-format ${String(caps['stream-format'])})`);
  const { width, height } = caps;
  if (typeof width !== 'number' || typeof height !== 'number') return new Error(`${codec} caps have no size`);
  try {
    const codecString = codec === 'h264' ? avcCodecString(description) : hevcCodecString(description);
    return { codec, description, codecString, width, height, fps: capsFps(caps) };
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** Whether two tracks need no new epoch: same codec, size and parameter sets. */
export function sameTrack(a: TrackConfig, b: TrackConfig): boolean {
  return a.codec === b.codec && a.width === b.width && a.height === b.height && a.description.equals(b.description);
}
