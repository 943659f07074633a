/**
 * Just enough ISO BMFF reading for the live view's decoder path: the codec configuration (avcC /
 * hvcC) and timescale of an init segment, and the samples of a media fragment (moof + mdat), as
 * daemon/console/fmp4-fragments.ts writes them.
 */
interface Box { type: string; start: number; end: number; body: number }

function boxes(v: DataView, from: number, to: number): Box[] {
  const out: Box[] = [];
  for (let at = from; at + 8 <= to;) {
    let size = v.getUint32(at);
    let body = at + 8;
    if (size === 1) {
      size = Number(v.getBigUint64(at + 8));
      body = at + 16;
    } else if (size === 0) size = to - at;
    if (size < 8 || at + size > to) break;
    out.push({ type: String.fromCharCode(v.getUint8(at + 4), v.getUint8(at + 5), v.getUint8(at + 6), v.getUint8(at + 7)), start: at, end: at + size, body });
    at += size;
  }
  return out;
}

function find(v: DataView, from: number, to: number, path: string[]): Box | null {
  let box: Box | null = null;
  let [start, end] = [from, to];
  for (const type of path) {
    box = boxes(v, start, end).find((b) => b.type === type) ?? null;
    if (box === null) return null;
    [start, end] = [box.body, box.end];
  }
  return box;
}

export interface InitInfo {
  /** avcC or hvcC box body: the decoder's `description`. */
  description: Uint8Array;
  timescale: number;
}

/** The codec configuration and timescale of an init segment (ftyp + moov), or null if it has none. */
export function readInit(buf: ArrayBuffer): InitInfo | null {
  const v = new DataView(buf);
  const mdhd = find(v, 0, buf.byteLength, ['moov', 'trak', 'mdia', 'mdhd']);
  const stsd = find(v, 0, buf.byteLength, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd']);
  if (!mdhd || !stsd) return null;
  const timescale = v.getUint32(mdhd.body + (v.getUint8(mdhd.body) === 1 ? 20 : 12));
  // stsd: version/flags and an entry count, then the sample entry (avc1/hvc1…), whose children
  // follow 78 bytes of visual sample entry fields.
  const entry = boxes(v, stsd.body + 8, stsd.end)[0];
  if (!entry) return null;
  const config = boxes(v, entry.body + 78, entry.end).find((b) => b.type === 'avcC' || b.type === 'hvcC');
  if (!config) return null;
  return { description: new Uint8Array(buf.slice(config.body, config.end)), timescale };
}

export interface Sample {
  /** In the init's timescale. */
  decodeTime: number;
  key: boolean;
  data: Uint8Array;
}

const NON_SYNC = 0x00010000;

/** The samples of one media fragment (moof + mdat). */
export function readFragment(buf: ArrayBuffer): Sample[] {
  const v = new DataView(buf);
  const top = boxes(v, 0, buf.byteLength);
  const moof = top.find((b) => b.type === 'moof');
  const mdat = top.find((b) => b.type === 'mdat');
  if (!moof || !mdat) return [];
  const tfdt = find(v, moof.body, moof.end, ['traf', 'tfdt']);
  const trun = find(v, moof.body, moof.end, ['traf', 'trun']);
  if (!tfdt || !trun) return [];
  let time = v.getUint8(tfdt.body) === 1 ? Number(v.getBigUint64(tfdt.body + 4)) : v.getUint32(tfdt.body + 4);
  const flags = v.getUint32(trun.body) & 0xffffff;
  const count = v.getUint32(trun.body + 4);
  let at = trun.body + 8;
  let dataAt = mdat.body;
  if (flags & 0x1) {
    dataAt = moof.start + v.getInt32(at);
    at += 4;
  }
  let firstFlags: number | null = null;
  if (flags & 0x4) {
    firstFlags = v.getUint32(at);
    at += 4;
  }
  const out: Sample[] = [];
  for (let i = 0; i < count; i++) {
    let duration = 0;
    let size = mdat.end - dataAt;
    let sampleFlags = i === 0 && firstFlags !== null ? firstFlags : 0;
    if (flags & 0x100) { duration = v.getUint32(at); at += 4; }
    if (flags & 0x200) { size = v.getUint32(at); at += 4; }
    if (flags & 0x400) { if (!(i === 0 && firstFlags !== null)) sampleFlags = v.getUint32(at); at += 4; }
    if (flags & 0x800) at += 4;
    out.push({ decodeTime: time, key: (sampleFlags & NON_SYNC) === 0, data: new Uint8Array(buf, dataAt, size) });
    dataAt += size;
    time += duration;
  }
  return out;
}
