import { readdirSync, unlinkSync } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { EvidenceConfig, RuleConfig, Severity, StreamConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { withDeadline } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { SampleRing, type Percentiles } from '../util/sample-ring.js';
import type { AccessUnit, AccessUnitListener } from '../video/access-unit.js';
import type { EvidenceFile, EvidenceFileSink } from './evidence-files.js';
import { ClipJob, type TakeResult } from './clip-job.js';
import { ClipRing } from './clip-ring.js';
import { clipSettingsFor, ringKeepMs } from './clip-settings.js';
import { isNoRoom, writeClip } from './clip-writer.js';

export interface ClipStats {
  started: number;
  written: number;
  /** Written, but shorter than asked (the reason is on the file's record). */
  truncated: number;
  /** Never written: no keyframe came, or the disk refused it (logged with the event id). */
  failed: number;
  /** Instant events that got no clip of their own: a clip of the same rule was recording them already (and was extended). */
  covered: number;
  /** Clips being recorded or written now. */
  active: number;
  /** Bytes the streams' rings hold now. */
  ringBytes: number;
}

export interface ClipOutcome {
  eventId: string;
  /** What was recorded in the store; null when no file could be written. */
  file: EvidenceFile | null;
  error?: string;
}

export interface ClipRecorderOptions {
  /** The running config (live management replaces streams and rules). */
  config: () => { evidence: EvidenceConfig; streams: readonly StreamConfig[]; rules: readonly RuleConfig[] };
  storageDir: string;
  /** Where finished clips are recorded; null: nowhere (the store is closed). */
  sink: () => EvidenceFileSink | null;
  log: Logger;
  /** The units' clock (wall ms), for clips whose stream stopped delivering. */
  now?: () => number;
  /** A clip whose stream has given nothing this long past its end is completed with what it has. */
  staleMs?: number;
  onOutcome?: (outcome: ClipOutcome) => void;
}

interface StreamClips {
  ring: ClipRing;
  clips: ClipJob[];
}

/** Ends remembered for events whose start has not reached the recorder yet (the commit comes first). */
const EARLY_ENDS_MAX = 256;
const DEFAULT_STALE_MS = 3000;
/**
 * The ring holds this much more than the longest pre-roll: access units are pulled at the parser,
 * ahead of the decoded frame an event is detected on (the decode branch's queue, inference, the
 * commit), so at the event the newest unit is already past the event's time: 0.25 s on a file played
 * at its own rate with NanoDet-m on a CPU (test/evidence/clip-e2e.test.ts); 2 s leaves room for a
 * slower detector and a slow commit.
 */
export const UNIT_LEAD_MS = 2000;

/**
 * Event clips (tier 3): each stream with clips keeps a ring of its compressed video; an event's clip
 * is the ring from the keyframe at or before (event − pre-roll), then the live units until the
 * activity ends plus the post-roll, capped at `max_s`; then muxed to MP4 (fast start) without
 * re-encoding, flushed, renamed, hashed and recorded with the event. Clips are written one at a time,
 * off the frame path; a failure is logged and counted, never thrown: the event is already stored.
 */
export class ClipRecorder {
  private readonly streams = new Map<string, StreamClips>();
  private readonly earlyEnds = new Map<string, number>();
  private writing: Promise<void> = Promise.resolve();
  private pending = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** The last write failed: further failures are logged at debug until one succeeds. */
  private failing = false;
  private readonly now: () => number;
  private readonly dir: string;
  readonly stats: Omit<ClipStats, 'active' | 'ringBytes'> = { started: 0, written: 0, truncated: 0, failed: 0, covered: 0 };
  /** From the clip's recording complete (its post-roll over) to the file recorded, ms. */
  readonly completeMs = new SampleRing(256);

  constructor(private readonly opts: ClipRecorderOptions) {
    this.now = opts.now ?? Date.now;
    this.dir = path.join(opts.storageDir, 'evidence');
    this.removeLeftovers();
  }

  /**
   * A clip is only in memory until it is written, so a daemon killed (SIGKILL, power cut) while
   * writing one leaves its `.mp4.tmp`: removed at start, and each lost clip named in the log.
   */
  private removeLeftovers(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith('.mp4.tmp'));
    } catch {
      return; // no evidence folder yet
    }
    for (const name of names) {
      try {
        unlinkSync(path.join(this.dir, name));
        this.opts.log.warn({ event: name.slice(0, -'.mp4.tmp'.length) }, 'removed an event clip left unfinished by the last run');
      } catch (err) {
        this.opts.log.warn({ file: name, err: errorMessage(err) }, 'cannot remove an unfinished event clip');
      }
    }
  }

  /**
   * The listener to hand the stream's `onAccessUnit`, or null when none of its rules gets clips:
   * such a stream keeps no ring and its access units are not even delivered.
   */
  listenerFor(streamId: string): AccessUnitListener | null {
    const limits = this.limitsOf(streamId);
    if (limits === null) return null;
    let st = this.streams.get(streamId);
    if (st === undefined) {
      st = { ring: new ClipRing(limits), clips: [] };
      this.streams.set(streamId, st);
    }
    this.tick();
    const state = st;
    return (au) => this.onUnit(state, au);
  }

  /** A live change of the stream's rules: the ring follows the longest pre-roll (a ring no rule needs is emptied). */
  refresh(streamId: string): void {
    const st = this.streams.get(streamId);
    if (!st) return;
    const limits = this.limitsOf(streamId);
    if (limits) st.ring.setLimits(limits);
    else st.ring.clear();
  }

  /** The stream is gone: its clips complete with what they have, and its ring is freed. */
  detach(streamId: string): void {
    const st = this.streams.get(streamId);
    if (!st) return;
    this.streams.delete(streamId);
    for (const c of st.clips.splice(0)) this.finish(c, c.cut('stream stopped'));
    st.ring.clear();
  }

  /** Whether some rule of the stream gets clips now. */
  wantsStream(streamId: string): boolean {
    return this.limitsOf(streamId) !== null;
  }

  /**
   * A new event was committed. `instant`: it has no activity (a crossing), so its clip ends a
   * post-roll after `ts`; otherwise `end` ends it. Never throws.
   */
  start(eventId: string, hit: { streamId: string; ruleId: string; ts: number; severity: Severity }, instant: boolean): void {
    try {
      if (this.stopping) return;
      const st = this.streams.get(hit.streamId);
      if (!st) return;
      const cfg = this.opts.config();
      const rule = cfg.rules.find((r) => r.id === hit.ruleId && r.stream === hit.streamId);
      const settings = rule ? clipSettingsFor(cfg.evidence, cfg.streams.find((s) => s.id === hit.streamId), rule) : null;
      if (!settings) return;
      // One clip per rule while it records: a presence firing every frame or a run of crossings would
      // otherwise start a clip per event, each holding the same video. An instant event inside a
      // clip of its rule that is still recording extends that clip (up to max_s) instead.
      const covering = instant ? st.clips.find((c) => c.ruleId === hit.ruleId && c.ending && c.deadline >= hit.ts) : undefined;
      if (covering) {
        covering.endsAt(hit.ts);
        this.stats.covered++;
        this.opts.log.debug({ event: eventId, clip_of: covering.eventId, stream: hit.streamId }, 'event recorded in the clip of an earlier event of its rule');
        this.opts.onOutcome?.({ eventId, file: null, error: `in the clip of event ${covering.eventId}` });
        return;
      }
      const job = new ClipJob(eventId, hit.streamId, hit.ts, settings, this.clipByteCap(settings.maxMs), hit.ruleId);
      this.stats.started++;
      const early = this.earlyEnds.get(eventId);
      this.earlyEnds.delete(eventId);
      if (instant || early !== undefined) job.endsAt(early ?? hit.ts);
      const slice = st.ring.from(hit.ts - settings.preRollMs);
      const newest = st.ring.newestWallMs;
      this.opts.log.debug({ event: eventId, stream: hit.streamId, lead_ms: newest !== null ? newest - hit.ts : null,
        pre_roll_ms: slice.units.length > 0 ? hit.ts - slice.units[0]!.wallMs : 0 }, 'event clip started');
      const r = job.begin(slice.units, slice.reachesBack);
      if (r.done) this.finish(job, r);
      else st.clips.push(job);
    } catch (err) {
      this.opts.log.error({ event: eventId, err: errorMessage(err) }, 'cannot start an event clip');
    }
  }

  /** The activity of `eventId` ended at `ts` (frame time). */
  end(eventId: string, ts: number): void {
    for (const st of this.streams.values()) {
      const job = st.clips.find((c) => c.eventId === eventId);
      if (job) {
        job.endsAt(ts);
        return;
      }
    }
    if (this.earlyEnds.size >= EARLY_ENDS_MAX) {
      const oldest = this.earlyEnds.keys().next();
      if (!oldest.done) this.earlyEnds.delete(oldest.value);
    }
    this.earlyEnds.set(eventId, ts);
  }

  status(): ClipStats & { completeMs: Percentiles | null } {
    let active = this.pending;
    let ringBytes = 0;
    for (const st of this.streams.values()) {
      active += st.clips.length;
      ringBytes += st.ring.bytes;
    }
    return { ...this.stats, active, ringBytes, completeMs: this.completeMs.percentiles() };
  }

  /** Resolves when no clip is being written (those still recording are not waited for). */
  idle(): Promise<void> {
    return this.writing;
  }

  /** Clips being recorded complete now, marked `stopped`, and are written within `deadlineMs`. */
  async stop(deadlineMs = 1500): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const st of this.streams.values()) for (const c of st.clips.splice(0)) this.finish(c, c.cut('stopped'));
    await withDeadline(deadlineMs, 'event clips to be written', () => this.writing).catch((err: unknown) => {
      // Those not begun are not written at all: nothing may write under the state directory once stop has returned.
      this.abandoned = true;
      this.opts.log.warn({ err: errorMessage(err), clips: this.pending }, 'event clips still being written at stop are lost');
    });
  }

  private abandoned = false;

  private onUnit(st: StreamClips, au: AccessUnit): void {
    st.ring.push(au);
    if (st.clips.length === 0) return;
    for (let i = 0; i < st.clips.length; i++) {
      const job = st.clips[i]!;
      const r = job.take(au);
      if (!r.done) continue;
      st.clips.splice(i--, 1);
      this.finish(job, r);
    }
  }

  /** Once a second while any stream has clips: completes clips whose stream went quiet past their end. */
  private tick(): void {
    if (this.timer !== undefined || this.stopping) return;
    this.timer = setInterval(() => {
      const now = this.now();
      const stale = this.opts.staleMs ?? DEFAULT_STALE_MS;
      for (const st of this.streams.values()) {
        for (let i = 0; i < st.clips.length; i++) {
          const job = st.clips[i]!;
          if (now <= job.deadline + stale) continue;
          st.clips.splice(i--, 1);
          this.finish(job, job.cut(job.lastWallMs < job.deadline ? 'stream stalled' : 'ended'));
        }
      }
    }, 1000);
    this.timer.unref();
  }

  private finish(job: ClipJob, r: TakeResult): void {
    if (!job.started) {
      this.stats.failed++;
      const reason = r.done ? r.truncated : undefined;
      this.opts.log.warn({ event: job.eventId, stream: job.streamId, reason }, 'no event clip: the stream gave no keyframe in time');
      this.opts.onOutcome?.({ eventId: job.eventId, file: null, error: reason ?? 'no video' });
      return;
    }
    const truncated = r.done ? r.truncated : undefined;
    const units = job.units;
    job.units = [];
    const endedAt = Date.now();
    this.pending++;
    this.writing = this.writing.then(() => this.write(job, units, truncated, endedAt)).finally(() => { this.pending--; });
  }

  private async write(job: ClipJob, units: AccessUnit[], truncated: string | undefined, endedAt: number): Promise<void> {
    if (this.abandoned) {
      this.stats.failed++;
      return;
    }
    const first = units[0]!;
    try {
      await mkdir(this.dir, { recursive: true });
      const w = await writeClip(this.dir, `${job.eventId}.mp4`, units);
      const why = w.cutTo !== undefined ? [truncated, 'disk full'].filter((s) => s !== undefined).join('; ') : truncated;
      const file: EvidenceFile = {
        eventId: job.eventId, kind: 'clip', path: w.path, bytes: w.bytes, sha256: w.sha256,
        width: first.track.width, height: first.track.height, durationS: w.durationS, startedAt: first.wallMs,
        ...(why !== undefined ? { truncated: why } : {}), createdAt: Date.now(),
      };
      const sink = this.opts.sink();
      if (sink && !sink.addEvidenceFile(file)) {
        // The event was evicted meanwhile: a clip of nothing is not kept.
        await unlink(w.path).catch(() => undefined);
        this.opts.onOutcome?.({ eventId: job.eventId, file: null, error: 'event evicted' });
        return;
      }
      this.stats.written++;
      if (why !== undefined) {
        this.stats.truncated++;
        this.opts.log.warn({ event: job.eventId, stream: job.streamId, reason: why, duration_s: w.durationS }, 'event clip truncated');
      }
      this.completeMs.push(Date.now() - endedAt);
      if (this.failing) this.opts.log.info({ event: job.eventId }, 'event clips are written again');
      this.failing = false;
      this.opts.onOutcome?.({ eventId: job.eventId, file });
    } catch (err) {
      this.stats.failed++;
      const fields = { event: job.eventId, stream: job.streamId, err: errorMessage(err), full: isNoRoom(err) };
      if (this.failing) this.opts.log.debug(fields, 'event clip not written');
      else this.opts.log.error(fields, 'event clip not written (further failures are logged at debug until one is written)');
      this.failing = true;
      this.opts.onOutcome?.({ eventId: job.eventId, file: null, error: errorMessage(err) });
    }
  }

  private limitsOf(streamId: string): { keepMs: number; maxBytes: number } | null {
    const cfg = this.opts.config();
    const stream = cfg.streams.find((s) => s.id === streamId);
    if (!stream) return null;
    const keepMs = ringKeepMs(cfg.evidence, stream, cfg.rules);
    return keepMs === null ? null : { keepMs: keepMs + UNIT_LEAD_MS, maxBytes: cfg.evidence.clips.ring_mb * 1024 * 1024 };
  }

  /** A clip may hold `ring_mb` per 10 s of its length (96 MiB for 60 s by default), never less than the ring. */
  private clipByteCap(maxMs: number): number {
    const ring = this.opts.config().evidence.clips.ring_mb * 1024 * 1024;
    return Math.max(ring, ring * maxMs / 10_000);
  }
}
