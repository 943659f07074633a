import type { AccessUnit, TrackConfig } from '../video/access-unit.js';
import type { ClipSettings } from './clip-settings.js';

/** Whether the clip takes more units, or is complete (and why it ended short, if it did). */
export type TakeResult = { done: false } | { done: true; truncated?: string };

const MORE: TakeResult = { done: false };

const sameTrack = (a: TrackConfig, b: TrackConfig): boolean =>
  a.codecString === b.codecString && a.width === b.width && a.height === b.height && a.description.equals(b.description);

/**
 * One event's clip while it is recorded: which access units it keeps (references to the ring's
 * buffers, never copies) and when it is complete. Times are the units' wall clocks (the clock of
 * event times). It ends at its end time (the event plus the post-roll, once known), at `max`, at
 * its byte cap, or where the epoch changes (a restart or a new track); the truncation reasons are
 * what docs/evidence-clips.md lists.
 */
export class ClipJob {
  units: AccessUnit[] = [];
  bytes = 0;
  /** The first reason it falls short of what was asked; kept even when it later ends normally. */
  shortBy: string | undefined;
  private endAt: number | undefined;
  private capAt: number;
  private epoch = -1;
  private track: TrackConfig | null = null;
  lastWallMs = 0;

  constructor(
    readonly eventId: string,
    readonly streamId: string,
    readonly eventTs: number,
    readonly settings: ClipSettings,
    private readonly maxBytes: number,
    readonly ruleId = '',
  ) {
    // Until a first unit sets it, the cap counts from where the pre-roll should have started.
    this.capAt = eventTs - settings.preRollMs + settings.maxMs;
  }

  get started(): boolean { return this.units.length > 0; }

  /** When the clip must be complete by, on the units' clock. */
  get deadline(): number {
    return this.endAt !== undefined ? Math.min(this.endAt, this.capAt) : this.capAt;
  }

  /** Whether the clip ends a post-roll after a known time (an instant event, or an activity that ended). */
  get ending(): boolean { return this.endAt !== undefined; }

  /** The activity ended (or the event was instant) at `ts`: the clip runs on for the post-roll. */
  endsAt(ts: number): void {
    this.endAt = ts + this.settings.postRollMs;
  }

  /** Starts the clip on the ring's units (a keyframe first), or without them when the ring had none. */
  begin(units: AccessUnit[], reachesBack: boolean): TakeResult {
    if (units.length === 0) {
      this.shortBy = 'no keyframe in pre-roll';
      return MORE;
    }
    const first = units[0]!;
    // The ring may start after the event's frame (a stream that just started): that is no pre-roll at all, not a negative one.
    if (!reachesBack) this.shortBy = `pre-roll short: the ring held ${(Math.max(0, this.eventTs - first.wallMs) / 1000).toFixed(1)} s`;
    for (const u of units) {
      const r = this.take(u);
      if (r.done) return r;
    }
    return MORE;
  }

  take(au: AccessUnit): TakeResult {
    if (this.units.length === 0) {
      if (au.wallMs > this.deadline) return { done: true, truncated: 'no keyframe before the clip would have ended' };
      if (!au.key) return MORE;
      this.epoch = au.epoch;
      this.track = au.track;
      this.capAt = au.wallMs + this.settings.maxMs;
    } else if (au.epoch !== this.epoch) {
      const t = this.track!;
      return this.end(sameTrack(t, au.track) ? 'stream restarted'
        : `track changed: ${t.codecString} ${t.width}x${t.height} to ${au.track.codecString} ${au.track.width}x${au.track.height}`);
    }
    if (this.endAt !== undefined && au.wallMs > this.endAt) return this.end(undefined);
    if (au.wallMs >= this.capAt) return this.end(`capped at ${this.settings.maxMs / 1000} s`);
    if (this.bytes + au.data.length > this.maxBytes) return this.end(`capped at ${Math.round(this.maxBytes / 1048576)} MiB`);
    this.units.push(au);
    this.bytes += au.data.length;
    this.lastWallMs = au.wallMs;
    return MORE;
  }

  /** The stream gave nothing for too long, or stopped, or the daemon stops: complete with what there is. */
  cut(reason: string): TakeResult {
    return this.end(reason);
  }

  private end(reason: string | undefined): TakeResult {
    const why = [this.shortBy, reason].filter((r) => r !== undefined).join('; ');
    return why !== '' ? { done: true, truncated: why } : { done: true };
  }
}
