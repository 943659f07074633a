import type { TrackConfig, VideoCodec } from './access-unit.js';

/**
 * Picture order count (POC) of H.264 / H.265 access units in MP4 form, read from the first slice
 * header against the parameter sets of the avcC/hvcC record (and any sent in band). The appsink of
 * gstreamer-superficial gives no buffer timestamps, so this is how a clip learns the presentation
 * order of a stream with B-frames (evidence/clip-muxer.ts reorders each GOP by it).
 *
 * What is read: H.264 pic_order_cnt_type 0 (pic_order_cnt_lsb, PicOrderCntMsb wrap, reset at IDR
 * and at memory_management_control_operation 5) and type 2 (output order is decode order); type 1
 * gives no POC (`problem` says so) and such clips keep decode order. H.265: slice_pic_order_cnt_lsb
 * with PicOrderCntMsb from the previous TemporalId-0 picture, reset at IRAP pictures with
 * NoRaslOutputFlag (IDR, BLA, a CRA first after a gap or an end of sequence).
 *
 * Cost: a slice header is a few dozen bits; per access unit this walks the NAL headers up to the
 * first slice and reads that slice's header through one reusable bit reader (no allocation).
 */

/** A value that only orders the pictures of one GOP (key to key) for presentation. */
export type PictureOrderKey = number;

class Truncated extends Error {}
/** Thrown by the reader at the end of a NAL unit; one instance, so a short header allocates nothing. */
const TRUNCATED = new Truncated('NAL unit ends inside the header');

/** Bits of an RBSP straight from the NAL bytes, skipping emulation-prevention bytes (00 00 03). */
class BitReader {
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private end = 0;
  private cur = 0;
  private left = 0;
  private zeros = 0;

  reset(buf: Uint8Array, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = Math.min(end, buf.length);
    this.left = 0;
    this.zeros = 0;
    return this;
  }

  private byte(): number {
    if (this.pos >= this.end) throw TRUNCATED;
    let b = this.buf[this.pos++]!;
    if (this.zeros >= 2 && b === 3) {
      if (this.pos >= this.end) throw TRUNCATED;
      b = this.buf[this.pos++]!;
      this.zeros = 0;
    }
    this.zeros = b === 0 ? this.zeros + 1 : 0;
    return b;
  }

  u1(): number {
    if (this.left === 0) {
      this.cur = this.byte();
      this.left = 8;
    }
    this.left--;
    return (this.cur >> this.left) & 1;
  }

  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.u1();
    return v;
  }

  ue(): number {
    let z = 0;
    while (this.u1() === 0) if (++z > 31) throw TRUNCATED;
    return 2 ** z - 1 + this.u(z);
  }

  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -k / 2;
  }
}

interface AvcSps {
  log2MaxFrameNum: number;
  pocType: number;
  log2MaxPocLsb: number;
  frameMbsOnly: boolean;
  deltaPicOrderAlwaysZero: boolean;
  separateColourPlane: boolean;
  chromaArrayType: number;
}

interface AvcPps {
  spsId: number;
  bottomFieldPicOrderPresent: boolean;
  /** More than one slice group (Baseline FMO): the header past the POC is not read (no MMCO 5 seen). */
  sliceGroups: boolean;
  numRefIdxL0: number;
  numRefIdxL1: number;
  weightedPred: boolean;
  weightedBipredIdc: number;
  redundantPicCntPresent: boolean;
}

interface HevcSps { log2MaxPocLsb: number; separateColourPlane: boolean }
interface HevcPps { spsId: number; dependentSliceSegments: boolean; outputFlagPresent: boolean; extraSliceHeaderBits: number }

/** profile_idc values whose SPS carries chroma_format_idc and bit depths (H.264 7.3.2.1.1). */
const AVC_HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function parseAvcSps(r: BitReader): [number, AvcSps] {
  const profile = r.u(8);
  r.u(16); // constraint flags, level_idc
  const id = r.ue();
  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  if (AVC_HIGH_PROFILES.has(profile)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) separateColourPlane = r.u1() === 1;
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.u1(); // qpprime_y_zero_transform_bypass_flag
    if (r.u1() === 1) {
      const lists = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < lists; i++) {
        if (r.u1() === 0) continue;
        const size = i < 6 ? 16 : 64;
        let last = 8;
        let next = 8;
        for (let j = 0; j < size && next !== 0; j++) {
          next = (last + r.se() + 256) % 256;
          if (next !== 0) last = next;
        }
      }
    }
  }
  const log2MaxFrameNum = r.ue() + 4;
  const pocType = r.ue();
  let log2MaxPocLsb = 0;
  let deltaPicOrderAlwaysZero = false;
  if (pocType === 0) log2MaxPocLsb = r.ue() + 4;
  else if (pocType === 1) {
    deltaPicOrderAlwaysZero = r.u1() === 1;
    r.se();
    r.se();
    const cycle = r.ue();
    for (let i = 0; i < cycle; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.u1(); // gaps_in_frame_num_value_allowed_flag
  r.ue(); // pic_width_in_mbs_minus1
  r.ue(); // pic_height_in_map_units_minus1
  const frameMbsOnly = r.u1() === 1;
  return [id, {
    log2MaxFrameNum, pocType, log2MaxPocLsb, frameMbsOnly, deltaPicOrderAlwaysZero, separateColourPlane,
    chromaArrayType: separateColourPlane ? 0 : chromaFormatIdc,
  }];
}

function parseAvcPps(r: BitReader): [number, AvcPps] {
  const id = r.ue();
  const spsId = r.ue();
  r.u1(); // entropy_coding_mode_flag
  const bottomFieldPicOrderPresent = r.u1() === 1;
  const sliceGroups = r.ue() > 0;
  if (sliceGroups) {
    return [id, { spsId, bottomFieldPicOrderPresent, sliceGroups, numRefIdxL0: 1, numRefIdxL1: 1, weightedPred: false, weightedBipredIdc: 0, redundantPicCntPresent: false }];
  }
  const numRefIdxL0 = r.ue() + 1;
  const numRefIdxL1 = r.ue() + 1;
  const weightedPred = r.u1() === 1;
  const weightedBipredIdc = r.u(2);
  r.se(); // pic_init_qp_minus26
  r.se(); // pic_init_qs_minus26
  r.se(); // chroma_qp_index_offset
  r.u1(); // deblocking_filter_control_present_flag
  r.u1(); // constrained_intra_pred_flag
  const redundantPicCntPresent = r.u1() === 1;
  return [id, { spsId, bottomFieldPicOrderPresent, sliceGroups, numRefIdxL0, numRefIdxL1, weightedPred, weightedBipredIdc, redundantPicCntPresent }];
}

function parseHevcSps(r: BitReader): [number, HevcSps] {
  r.u(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.u(3);
  r.u1(); // sps_temporal_id_nesting_flag
  // profile_tier_level(1, maxSubLayersMinus1): general part is 88 bits of profile and 8 of level.
  r.u(32);
  r.u(32);
  r.u(32);
  const profilePresent: boolean[] = [];
  const levelPresent: boolean[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    profilePresent.push(r.u1() === 1);
    levelPresent.push(r.u1() === 1);
  }
  if (maxSubLayersMinus1 > 0) for (let i = maxSubLayersMinus1; i < 8; i++) r.u(2);
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (profilePresent[i]) {
      r.u(32);
      r.u(32);
      r.u(24);
    }
    if (levelPresent[i]) r.u(8);
  }
  const id = r.ue();
  const chromaFormatIdc = r.ue();
  const separateColourPlane = chromaFormatIdc === 3 ? r.u1() === 1 : false;
  r.ue(); // pic_width_in_luma_samples
  r.ue(); // pic_height_in_luma_samples
  if (r.u1() === 1) for (let i = 0; i < 4; i++) r.ue(); // conformance window offsets
  r.ue(); // bit_depth_luma_minus8
  r.ue(); // bit_depth_chroma_minus8
  return [id, { log2MaxPocLsb: r.ue() + 4, separateColourPlane }];
}

function parseHevcPps(r: BitReader): [number, HevcPps] {
  const id = r.ue();
  const spsId = r.ue();
  const dependentSliceSegments = r.u1() === 1;
  const outputFlagPresent = r.u1() === 1;
  return [id, { spsId, dependentSliceSegments, outputFlagPresent, extraSliceHeaderBits: r.u(3) }];
}

/** The parameter-set NAL units of an avcC / hvcC record, as [offset, end] pairs into it. */
function recordNals(codec: VideoCodec, rec: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  const short = (): never => { throw new Error(`the ${codec === 'h264' ? 'avcC' : 'hvcC'} record ends early (${rec.length} bytes)`); };
  const u16 = (o: number): number => (o + 2 <= rec.length ? rec[o]! * 256 + rec[o + 1]! : short());
  const nal = (o: number): number => {
    const len = u16(o);
    if (o + 2 + len > rec.length) short();
    out.push([o + 2, o + 2 + len]);
    return o + 2 + len;
  };
  if (codec === 'h264') {
    if (rec.length < 7) short();
    let o = 6;
    for (let n = rec[5]! & 0x1f; n > 0; n--) o = nal(o);
    if (o >= rec.length) short();
    for (let n = rec[o++]!; n > 0; n--) o = nal(o);
  } else {
    if (rec.length < 23) short();
    let o = 23;
    for (let arrays = rec[22]!; arrays > 0; arrays--) {
      o += 1; // array_completeness, NAL_unit_type
      let n = u16(o);
      o += 2;
      for (; n > 0; n--) o = nal(o);
    }
  }
  return out;
}

const AVC_SLICE = 1;
const AVC_PARTITION_A = 2;
const AVC_IDR = 5;
const AVC_SPS = 7;
const AVC_PPS = 8;
const AVC_END_OF_SEQ = 10;
const HEVC_RADL_N = 6;
const HEVC_RASL_R = 9;
const HEVC_SLNR_MAX = 14;
const HEVC_BLA_W_LP = 16;
const HEVC_IDR_W_RADL = 19;
const HEVC_IDR_N_LP = 20;
const HEVC_CRA = 21;
const HEVC_IRAP_LAST = 23;
const HEVC_SPS = 33;
const HEVC_PPS = 34;
const HEVC_END_OF_SEQ = 36;

/**
 * The picture order of one track's access units, fed every access unit in decode order. `of`
 * returns a key that orders the pictures of a GOP for presentation (the POC, made to keep rising
 * past an MMCO 5 reset inside a GOP), or undefined when the stream's POC cannot be read (`problem`
 * says why) or access units were missed since the last key (`lost`).
 */
export class PictureOrder {
  private why: string | null = null;
  private readonly codec: VideoCodec;
  private readonly lengthSize: number;
  private readonly r = new BitReader();
  private readonly avcSps = new Map<number, AvcSps>();
  private readonly avcPps = new Map<number, AvcPps>();
  private readonly hevcSps = new Map<number, HevcSps>();
  private readonly hevcPps = new Map<number, HevcPps>();
  /** Until a key arrives after a gap, the wrap of the POC is unknown. */
  private synced = false;
  /** H.264: the previous reference picture's PicOrderCntMsb and pic_order_cnt_lsb. */
  private prevMsb = 0;
  private prevLsb = 0;
  /** H.265: the POC of prevTid0Pic (the last TemporalId-0 picture that is not leading or sub-layer non-reference). */
  private prevTid0Poc = 0;
  /** Pictures since the key (H.264 type 2: output order is decode order). */
  private sinceKey = 0;
  /** Added to the POC after an MMCO 5 inside a GOP, so the order key keeps rising. */
  private base = 0;
  private maxKey = 0;
  /** An end-of-sequence NAL unit: the next picture starts afresh (H.265 NoRaslOutputFlag). */
  private endOfSequence = false;

  constructor(track: Pick<TrackConfig, 'codec' | 'description'>, lengthSize = 4) {
    this.codec = track.codec;
    this.lengthSize = lengthSize;
    try {
      for (const [start, end] of recordNals(track.codec, track.description)) this.parameterSet(track.description, start, end);
    } catch (err) {
      this.why = `${track.codec} parameter sets unreadable: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** Why access units get no POC; null while they do. Set once (the first reason), for the tap to log. */
  get problem(): string | null {
    return this.why;
  }

  /** Access units went by unseen (nobody listened): POC is unknown until the next key. */
  lost(): void {
    this.synced = false;
  }

  of(data: Uint8Array): PictureOrderKey | undefined {
    const ls = this.lengthSize;
    for (let o = 0; o + ls < data.length;) {
      let len = 0;
      for (let i = 0; i < ls; i++) len = len * 256 + data[o + i]!;
      const start = o + ls;
      const end = start + len;
      if (len === 0 || end > data.length) return this.fail(`a NAL unit length (${len}) runs past the access unit (${data.length} bytes)`);
      o = end;
      const h = data[start]!;
      try {
        if (this.codec === 'h264') {
          const type = h & 0x1f;
          if (type === AVC_SLICE || type === AVC_IDR || type === AVC_PARTITION_A) return this.avcSlice(data, start, end, type, (h >> 5) & 3);
          if (type === AVC_SPS || type === AVC_PPS) this.parameterSet(data, start, end);
          else if (type === AVC_END_OF_SEQ) this.endOfSequence = true;
        } else {
          const type = (h >> 1) & 0x3f;
          if (type < 32) return this.hevcSlice(data, start, end, type, (data[start + 1] ?? 1) & 7);
          if (type === HEVC_SPS || type === HEVC_PPS) this.parameterSet(data, start, end);
          else if (type === HEVC_END_OF_SEQ) this.endOfSequence = true;
        }
      } catch (err) {
        const type = this.codec === 'h264' ? h & 0x1f : (h >> 1) & 0x3f;
        return this.fail(err instanceof Truncated ? `${this.codec} NAL unit type ${type} ends inside its header` : `${this.codec} NAL unit type ${type}: ${String(err)}`);
      }
    }
    return undefined;
  }

  private fail(why: string): undefined {
    this.why ??= why;
    this.synced = false;
    return undefined;
  }

  private parameterSet(buf: Uint8Array, start: number, end: number): void {
    const r = this.r;
    if (this.codec === 'h264') {
      const type = buf[start]! & 0x1f;
      r.reset(buf, start + 1, end);
      if (type === AVC_SPS) {
        const [id, sps] = parseAvcSps(r);
        this.avcSps.set(id, sps);
        if (sps.pocType === 1) this.why ??= 'H.264 pic_order_cnt_type 1 is not read: clips of this stream keep decode order';
      } else if (type === AVC_PPS) {
        const [id, pps] = parseAvcPps(r);
        this.avcPps.set(id, pps);
      }
    } else {
      const type = (buf[start]! >> 1) & 0x3f;
      r.reset(buf, start + 2, end);
      if (type === HEVC_SPS) {
        const [id, sps] = parseHevcSps(r);
        this.hevcSps.set(id, sps);
      } else if (type === HEVC_PPS) {
        const [id, pps] = parseHevcPps(r);
        this.hevcPps.set(id, pps);
      }
    }
  }

  private avcSlice(buf: Uint8Array, start: number, end: number, type: number, refIdc: number): PictureOrderKey | undefined {
    const r = this.r.reset(buf, start + 1, end);
    const idr = type === AVC_IDR;
    r.ue(); // first_mb_in_slice
    const sliceType = r.ue() % 5;
    const ppsId = r.ue();
    const pps = this.avcPps.get(ppsId);
    const sps = pps && this.avcSps.get(pps.spsId);
    if (!pps || !sps) return this.fail(`H.264 slice refers to PPS ${ppsId}, which was never sent`);
    if (sps.separateColourPlane) r.u(2);
    r.u(sps.log2MaxFrameNum); // frame_num
    let field = false;
    let bottom = false;
    if (!sps.frameMbsOnly) {
      field = r.u1() === 1;
      if (field) bottom = r.u1() === 1;
    }
    if (idr) {
      r.ue(); // idr_pic_id
      this.synced = true;
      this.prevMsb = 0;
      this.prevLsb = 0;
      this.sinceKey = 0;
      this.base = 0;
      this.maxKey = 0;
    } else if (this.endOfSequence || !this.synced) {
      // Joined mid-GOP or after an end of sequence: the POC's wrap is unknown until the next IDR.
      this.endOfSequence = false;
      this.synced = false;
      return undefined;
    }
    this.endOfSequence = false;
    this.sinceKey++;
    if (sps.pocType === 2) return this.sinceKey;
    if (sps.pocType !== 0) return undefined;
    const maxLsb = 2 ** sps.log2MaxPocLsb;
    const lsb = r.u(sps.log2MaxPocLsb);
    const deltaBottom = pps.bottomFieldPicOrderPresent && !field ? r.se() : 0;
    let msb = this.prevMsb;
    if (lsb < this.prevLsb && this.prevLsb - lsb >= maxLsb / 2) msb += maxLsb;
    else if (lsb > this.prevLsb && lsb - this.prevLsb > maxLsb / 2) msb -= maxLsb;
    const top = msb + lsb;
    let poc = field ? top : Math.min(top, top + deltaBottom);
    const mmco5 = refIdc !== 0 && !idr && !pps.sliceGroups && this.hasMmco5(sps, pps, sliceType, refIdc);
    if (mmco5) {
      // After MMCO 5 the picture's POC is re-based to its own (top field or frame) POC less itself:
      // every later picture is shown after every earlier one, so the key jumps past them.
      const temp = field ? poc : Math.min(top, top + deltaBottom);
      this.prevMsb = 0;
      this.prevLsb = bottom ? 0 : top - temp;
      this.base = this.maxKey + 1;
      poc = field ? 0 : top - temp;
    } else if (refIdc !== 0) {
      this.prevMsb = msb;
      this.prevLsb = lsb;
    }
    const key = this.base + poc;
    if (key > this.maxKey) this.maxKey = key;
    return key;
  }

  /** Reads on from after the POC fields to dec_ref_pic_marking (H.264 7.3.3) to find MMCO 5. */
  private hasMmco5(sps: AvcSps, pps: AvcPps, sliceType: number, refIdc: number): boolean {
    const r = this.r;
    if (sps.pocType === 1 && !sps.deltaPicOrderAlwaysZero) return false;
    if (pps.redundantPicCntPresent) r.ue();
    const p = sliceType === 0 || sliceType === 3;
    const b = sliceType === 1;
    if (b) r.u1(); // direct_spatial_mv_pred_flag
    let l0 = pps.numRefIdxL0;
    let l1 = pps.numRefIdxL1;
    if ((p || b) && r.u1() === 1) {
      l0 = r.ue() + 1;
      if (b) l1 = r.ue() + 1;
    }
    const modification = (): void => {
      if (r.u1() === 0) return;
      for (let idc = r.ue(); idc !== 3; idc = r.ue()) r.ue();
    };
    if (sliceType !== 2 && sliceType !== 4) modification();
    if (b) modification();
    if ((pps.weightedPred && p) || (pps.weightedBipredIdc === 1 && b)) {
      r.ue();
      if (sps.chromaArrayType !== 0) r.ue();
      const weights = (n: number): void => {
        for (let i = 0; i < n; i++) {
          if (r.u1() === 1) { r.se(); r.se(); }
          if (sps.chromaArrayType !== 0 && r.u1() === 1) { r.se(); r.se(); r.se(); r.se(); }
        }
      };
      weights(l0);
      if (b) weights(l1);
    }
    if (refIdc === 0 || r.u1() === 0) return false; // adaptive_ref_pic_marking_mode_flag
    let found = false;
    for (let op = r.ue(); op !== 0; op = r.ue()) {
      if (op === 5) found = true;
      if (op === 1 || op === 3) r.ue();
      if (op === 2) r.ue();
      if (op === 3 || op === 6) r.ue();
      if (op === 4) r.ue();
    }
    return found;
  }

  private hevcSlice(buf: Uint8Array, start: number, end: number, type: number, tidPlus1: number): PictureOrderKey | undefined {
    const r = this.r.reset(buf, start + 2, end);
    const irap = type >= HEVC_BLA_W_LP && type <= HEVC_IRAP_LAST;
    if (r.u1() !== 1) return this.fail('H.265 access unit does not begin with its first slice segment');
    if (irap) r.u1(); // no_output_of_prior_pics_flag
    const ppsId = r.ue();
    const pps = this.hevcPps.get(ppsId);
    const sps = pps && this.hevcSps.get(pps.spsId);
    if (!pps || !sps) return this.fail(`H.265 slice refers to PPS ${ppsId}, which was never sent`);
    r.u(pps.extraSliceHeaderBits);
    r.ue(); // slice_type
    if (pps.outputFlagPresent) r.u1();
    if (sps.separateColourPlane) r.u(2);
    const idr = type === HEVC_IDR_W_RADL || type === HEVC_IDR_N_LP;
    const lsb = idr ? 0 : r.u(sps.log2MaxPocLsb);
    // NoRaslOutputFlag: IDR and BLA always; a CRA when it is the first picture seen (a gap, the
    // start) or follows an end of sequence.
    const noRaslOutput = irap && (type < HEVC_CRA || !this.synced || this.endOfSequence);
    this.endOfSequence = false;
    if (irap && noRaslOutput) {
      this.synced = true;
      this.base = 0;
      this.maxKey = 0;
    } else if (!this.synced) {
      return undefined; // joined mid-GOP: the POC's wrap is unknown until the next IRAP
    }
    const maxLsb = 2 ** sps.log2MaxPocLsb;
    let msb = 0;
    if (!(irap && noRaslOutput)) {
      const prevLsb = ((this.prevTid0Poc % maxLsb) + maxLsb) % maxLsb;
      const prevMsb = this.prevTid0Poc - prevLsb;
      msb = prevMsb;
      if (lsb < prevLsb && prevLsb - lsb >= maxLsb / 2) msb += maxLsb;
      else if (lsb > prevLsb && lsb - prevLsb > maxLsb / 2) msb -= maxLsb;
    }
    const poc = msb + lsb;
    const leading = type >= HEVC_RADL_N && type <= HEVC_RASL_R;
    const subLayerNonRef = type <= HEVC_SLNR_MAX && type % 2 === 0;
    if (tidPlus1 === 1 && !leading && !subLayerNonRef) this.prevTid0Poc = poc;
    return poc;
  }
}
