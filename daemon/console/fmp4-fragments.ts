import { ClipMuxer } from '../evidence/clip-muxer.js';
import type { AccessUnit } from '../video/access-unit.js';

/**
 * Fragmented MP4 for the live view, one fragment per frame. mediabunny (evidence/clip-muxer.ts)
 * writes the init segment (ftyp + moov with the avcC/hvcC the browser needs) but only starts a
 * fragment at a keyframe, and writes the moov only once the first fragment is complete: a camera
 * with a 10 s keyframe interval would show its first picture after 10 s and lag by as much. So the
 * init segment is taken from mediabunny (one keyframe muxed and finished), and each frame then goes
 * out as its own moof + mdat, written here: a frame is on the wire as soon as the next one gives
 * its duration.
 */

export interface InitSegment {
  /** ftyp + moov */
  bytes: Buffer;
  /** The track's media timescale (ticks per second) from its mdhd, and its id from trex/tkhd. */
  timescale: number;
  trackId: number;
}

/** The init segment mediabunny writes for this stream's track, read off a one-frame clip. */
export async function initSegment(first: AccessUnit): Promise<InitSegment> {
  const parts: { data: Buffer; position: number }[] = [];
  const muxer = new ClipMuxer(first.track, (data, position) => { parts.push({ data: Buffer.from(data), position }); }, 'fragmented');
  await muxer.add({ data: first.data, key: true, ptsMs: 0 });
  await muxer.finish();
  const size = Math.max(0, ...parts.map((p) => p.position + p.data.length));
  const file = Buffer.alloc(size);
  for (const p of parts) p.data.copy(file, p.position);
  const top = children(file, 0, file.length);
  const moov = top.find((b) => b.type === 'moov');
  const end = top.find((b) => b.type === 'moof')?.start ?? (moov ? moov.start + moov.size : 0);
  if (!moov) throw new Error('mediabunny wrote no moov');
  const trak = children(file, moov.body, moov.start + moov.size).find((b) => b.type === 'trak');
  const mdia = trak && children(file, trak.body, trak.start + trak.size).find((b) => b.type === 'mdia');
  const mdhd = mdia && children(file, mdia.body, mdia.start + mdia.size).find((b) => b.type === 'mdhd');
  const tkhd = trak && children(file, trak.body, trak.start + trak.size).find((b) => b.type === 'tkhd');
  if (!mdhd || !tkhd) throw new Error('the init segment has no track header');
  const v = file.readUInt8(mdhd.body);
  const timescale = file.readUInt32BE(mdhd.body + (v === 1 ? 20 : 12));
  const trackId = file.readUInt32BE(tkhd.body + (file.readUInt8(tkhd.body) === 1 ? 20 : 12));
  return { bytes: file.subarray(0, end), timescale, trackId };
}

interface Box { type: string; start: number; size: number; body: number }

function children(buf: Buffer, from: number, to: number): Box[] {
  const out: Box[] = [];
  for (let at = from; at + 8 <= to;) {
    const size = buf.readUInt32BE(at);
    if (size < 8 || at + size > to) break;
    out.push({ type: buf.toString('latin1', at + 4, at + 8), start: at, size, body: at + 8 });
    at += size;
  }
  return out;
}

function box(type: string, ...payload: Buffer[]): Buffer {
  const size = 8 + payload.reduce((n, p) => n + p.length, 0);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(size, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, ...payload], size);
}

/** sample_depends_on=2 (an I frame); for others depends_on=1 and sample_is_non_sync_sample. */
const KEY_FLAGS = 0x02000000;
const DELTA_FLAGS = 0x01010000;

/** One frame as moof + mdat: `decodeTime` and `duration` in the track's timescale. */
export function frameFragment(seq: number, trackId: number, decodeTime: number, duration: number, data: Buffer, key: boolean): Buffer {
  const mfhd = Buffer.alloc(8);
  mfhd.writeUInt32BE(seq, 4);
  // default-base-is-moof: data offsets count from the moof's first byte.
  const tfhd = Buffer.alloc(8);
  tfhd.writeUInt32BE(0x020000, 0);
  tfhd.writeUInt32BE(trackId, 4);
  const tfdt = Buffer.alloc(12);
  tfdt.writeUInt32BE(0x01000000, 0);
  tfdt.writeBigUInt64BE(BigInt(Math.max(0, Math.round(decodeTime))), 4);
  // data-offset, sample-duration, sample-size, sample-flags present; one sample.
  const trun = Buffer.alloc(24);
  trun.writeUInt32BE(0x000701, 0);
  trun.writeUInt32BE(1, 4);
  trun.writeUInt32BE(Math.max(1, Math.round(duration)), 12);
  trun.writeUInt32BE(data.length, 16);
  trun.writeUInt32BE(key ? KEY_FLAGS : DELTA_FLAGS, 20);
  const traf = () => box('traf', box('tfhd', tfhd), box('tfdt', tfdt), box('trun', trun));
  const moofSize = box('moof', box('mfhd', mfhd), traf()).length;
  trun.writeInt32BE(moofSize + 8, 8);
  return Buffer.concat([box('moof', box('mfhd', mfhd), traf()), box('mdat', data)]);
}
