import type { AccessUnit } from '../video/access-unit.js';

export interface ClipRingLimits {
  /** The ring keeps a keyframe at least this old (the longest pre-roll of the stream's rules), when it can. */
  keepMs: number;
  /** Never more than this many bytes of access units, whatever `keepMs` asks. */
  maxBytes: number;
}

export interface ClipRingStats {
  /** Whole GOPs dropped from the front because the byte cap was reached before `keepMs` was. */
  gopsOverCap: number;
  /** Access units not kept because no keyframe had started the ring yet (or the last GOP alone was over the cap). */
  unitsWithoutKey: number;
  /** Times a new epoch (a pipeline restart, a new track) emptied the ring. */
  epochResets: number;
}

/** What a clip may start with: its units in decode order from a keyframe, and how far back they reach. */
export interface RingSlice {
  units: AccessUnit[];
  /** False when the ring held no keyframe as old as asked (it starts later than the pre-roll). */
  reachesBack: boolean;
}

const INITIAL_CAPACITY = 256;

/**
 * A stream's last seconds of compressed video, for the pre-roll of event clips. It always starts on
 * a keyframe: the front is dropped a whole GOP at a time, once the next GOP alone still covers
 * `keepMs`, or earlier when over `maxBytes`. One epoch at a time: a unit of a new epoch empties it,
 * since units of two pipelines (or two track configs) cannot go in one MP4 track.
 *
 * `push` runs on the access-unit path of every stream with clips: it does O(1) amortised work and
 * allocates nothing but the rare doubling of its two arrays (they settle at the stream's GOP size).
 */
export class ClipRing {
  private slots: (AccessUnit | undefined)[] = new Array<AccessUnit | undefined>(INITIAL_CAPACITY);
  /** Sequence numbers of the keyframes held, oldest first, in a ring of their own. */
  private keys: Float64Array = new Float64Array(64);
  private keyHead = 0;
  private keyCount = 0;
  /** Sequence numbers (monotonic per ring) of the oldest unit held and of the next to come. */
  private head = 0;
  private tail = 0;
  private heldBytes = 0;
  private epoch: number | null = null;
  readonly stats: ClipRingStats = { gopsOverCap: 0, unitsWithoutKey: 0, epochResets: 0 };

  constructor(private limits: ClipRingLimits) {}

  get bytes(): number { return this.heldBytes; }
  get units(): number { return this.tail - this.head; }

  /** From the oldest unit held to the newest, by their wall clocks; 0 when empty. */
  get spanMs(): number {
    if (this.tail === this.head) return 0;
    return this.at(this.tail - 1).wallMs - this.at(this.head).wallMs;
  }

  /** The newest unit's wall clock; null when empty. */
  get newestWallMs(): number | null {
    return this.tail === this.head ? null : this.at(this.tail - 1).wallMs;
  }

  /** Live changes (a rule's pre-roll, the cap): applied from the next unit on. */
  setLimits(limits: ClipRingLimits): void {
    this.limits = limits;
  }

  push(au: AccessUnit): void {
    if (au.epoch !== this.epoch) {
      if (this.epoch !== null) this.stats.epochResets++;
      this.clear();
      this.epoch = au.epoch;
    }
    if (!au.key && this.keyCount === 0) {
      this.stats.unitsWithoutKey++;
      return;
    }
    if (this.tail - this.head === this.slots.length) this.grow();
    this.slots[this.tail % this.slots.length] = au;
    if (au.key) this.addKey(this.tail);
    this.tail++;
    this.heldBytes += au.data.length;
    // Keep a keyframe at or before (newest − keepMs): the front GOP goes once the second one starts early enough.
    const oldest = au.wallMs - this.limits.keepMs;
    while (this.keyCount >= 2 && this.at(this.keyAt(1)).wallMs <= oldest) this.dropFrontGop();
    while (this.heldBytes > this.limits.maxBytes && this.keyCount > 0) {
      this.stats.gopsOverCap++;
      this.dropFrontGop();
    }
  }

  /**
   * The units from the newest keyframe at or before `wallMs` to the newest unit; from the oldest
   * keyframe when none is that old (`reachesBack` false); none when the ring holds no keyframe.
   */
  from(wallMs: number): RingSlice {
    if (this.keyCount === 0) return { units: [], reachesBack: false };
    let start = this.keyAt(0);
    let reachesBack = false;
    for (let i = this.keyCount - 1; i >= 0; i--) {
      const seq = this.keyAt(i);
      if (this.at(seq).wallMs <= wallMs) {
        start = seq;
        reachesBack = true;
        break;
      }
    }
    const units: AccessUnit[] = new Array<AccessUnit>(this.tail - start);
    for (let seq = start; seq < this.tail; seq++) units[seq - start] = this.at(seq);
    return { units, reachesBack };
  }

  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.tail = 0;
    this.keyHead = 0;
    this.keyCount = 0;
    this.heldBytes = 0;
  }

  private at(seq: number): AccessUnit {
    const au = this.slots[seq % this.slots.length];
    if (au === undefined) throw new Error(`clip ring: no unit at ${seq}`);
    return au;
  }

  private keyAt(i: number): number {
    return this.keys[(this.keyHead + i) % this.keys.length]!;
  }

  private addKey(seq: number): void {
    if (this.keyCount === this.keys.length) {
      const bigger = new Float64Array(this.keys.length * 2);
      for (let i = 0; i < this.keyCount; i++) bigger[i] = this.keyAt(i);
      this.keys = bigger;
      this.keyHead = 0;
    }
    this.keys[(this.keyHead + this.keyCount) % this.keys.length] = seq;
    this.keyCount++;
  }

  /** Drops units up to (not including) the second keyframe, or all of them when only one GOP is held. */
  private dropFrontGop(): void {
    const until = this.keyCount >= 2 ? this.keyAt(1) : this.tail;
    for (; this.head < until; this.head++) {
      const i = this.head % this.slots.length;
      this.heldBytes -= this.slots[i]!.data.length;
      this.slots[i] = undefined;
    }
    this.keyHead = (this.keyHead + 1) % this.keys.length;
    this.keyCount--;
    if (this.head === this.tail) this.heldBytes = 0;
  }

  private grow(): void {
    const bigger = new Array<AccessUnit | undefined>(this.slots.length * 2);
    for (let seq = this.head; seq < this.tail; seq++) bigger[seq % bigger.length] = this.slots[seq % this.slots.length];
    this.slots = bigger;
  }
}
