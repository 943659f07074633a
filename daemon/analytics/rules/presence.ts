import type { PresenceRuleConfig } from '../../config/schema.js';
import { bottomCentre, pointInPolygon, type Point } from '../geometry.js';
import { PresenceRule } from '../presence-rule.js';
import type { TrackedObject } from '../tracker/index.js';
import { toPixels } from './geometry.js';
import { inSchedule } from './schedule.js';
import { asObject, type EndReason, type Rule, type RuleHit, type RuleInput, type RuleOutput } from './types.js';

/**
 * `presence` with `count: frames` (the default, as configs written before tracking expect):
 * detections, not tracks, with `min_frames` and a rule-wide cooldown. It needs no tracker and
 * fires on the first frame.
 */
export class PresenceOnFrames implements Rule {
  readonly id: string;
  readonly kind = 'presence' as const;
  private inner: PresenceRule | null = null;
  private size = { width: 0, height: 0 };

  constructor(readonly config: PresenceRuleConfig) {
    this.id = config.id;
  }

  evaluate({ ts, detections, sourceWidth, sourceHeight, pxReference }: RuleInput): RuleOutput[] {
    if (this.inner === null || sourceWidth !== this.size.width || sourceHeight !== this.size.height) {
      this.size = { width: sourceWidth, height: sourceHeight };
      const { zone } = this.config;
      // Rebuilt only when a zone moves with the camera's size (norm units, or px after a
      // resolution change); otherwise its min_frames count and cooldown carry on.
      if (this.inner === null || zone !== undefined) {
        this.inner = new PresenceRule(zone === undefined ? this.config : { ...this.config, zone: toPixels(zone, this.config.units, sourceWidth, sourceHeight, pxReference) });
      }
    }
    if (!inSchedule(ts, this.config.schedule)) return [];
    const hit = this.inner.evaluate(ts, detections);
    return hit ? [{ type: 'instant', hit }] : [];
  }
}

interface ObjectPresence {
  /** Consecutive matched frames in which the object qualified. */
  streak: number;
  open: boolean;
  /** When its last presence ended, for the cooldown. */
  endedAt: number | null;
}

/**
 * `presence` with `count: objects`: one activity per tracked object, so a person who stands an
 * hour is one presence, not one event per cooldown. An object counts once it has matched (class,
 * score, inside the zone by its bottom centre) in `min_frames` consecutive frames; its presence
 * ends when it leaves the zone (`exit`) or the tracker drops it (`track_lost`). A lost but still
 * kept track (occluded) keeps its presence open. Class and score are checked once per track, as
 * in the other rules on tracks, so a score flickering under `min_score` does not end it.
 */
export class PresenceOnObjects implements Rule {
  readonly id: string;
  readonly kind = 'presence' as const;
  private readonly classes: ReadonlySet<string>;
  private readonly qualified = new Set<number>();
  private readonly objects = new Map<number, ObjectPresence>();
  private zone: Point[] | undefined;
  private size = { width: 0, height: 0 };

  constructor(readonly config: PresenceRuleConfig) {
    this.id = config.id;
    this.classes = new Set(config.classes);
  }

  evaluate({ ts, tracks, removed, sourceWidth, sourceHeight, pxReference }: RuleInput): RuleOutput[] {
    if (sourceWidth !== this.size.width || sourceHeight !== this.size.height) {
      this.size = { width: sourceWidth, height: sourceHeight };
      const { zone } = this.config;
      this.zone = zone === undefined ? undefined : toPixels(zone, this.config.units, sourceWidth, sourceHeight, pxReference);
    }
    const out: RuleOutput[] = [];
    for (const t of tracks) {
      const state = this.objects.get(t.id) ?? { streak: 0, open: false, endedAt: null };
      if (this.matches(t)) {
        state.streak += 1;
        if (!state.open && state.streak >= this.config.min_frames && this.mayStart(state, ts)) {
          state.open = true;
          out.push({ type: 'start', key: `t${t.id}`, hit: this.hit(ts, t) });
        }
        this.objects.set(t.id, state);
      } else if (this.objects.has(t.id)) {
        state.streak = 0;
        if (state.open) this.end(t.id, state, ts, 'exit', out);
      }
    }
    for (const id of removed) {
      const state = this.objects.get(id);
      if (state?.open) this.end(id, state, ts, 'track_lost', out);
      this.objects.delete(id);
      this.qualified.delete(id);
    }
    return out;
  }

  private matches(t: TrackedObject): boolean {
    if (!this.qualified.has(t.id)) {
      if (!this.classes.has(t.label) || t.score < this.config.min_score) return false;
      this.qualified.add(t.id);
    }
    return this.zone === undefined || pointInPolygon(bottomCentre(t.box), this.zone);
  }

  private mayStart(state: ObjectPresence, ts: number): boolean {
    if (!inSchedule(ts, this.config.schedule)) return false;
    return state.endedAt === null || ts - state.endedAt >= this.config.cooldown_s * 1000;
  }

  private end(id: number, state: ObjectPresence, ts: number, reason: EndReason, out: RuleOutput[]): void {
    state.open = false;
    state.endedAt = ts;
    out.push({ type: 'end', key: `t${id}`, ts, reason });
  }

  private hit(ts: number, t: TrackedObject): RuleHit {
    return {
      ruleId: this.config.id, streamId: this.config.stream, severity: this.config.severity, ts,
      objects: [asObject(t)], facts: { kind: 'presence', track_id: t.id },
    };
  }
}
