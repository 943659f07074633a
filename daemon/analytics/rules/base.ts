import type { CountRuleConfig, LineRuleConfig, StationaryRuleConfig, ZoneRuleConfig } from '../../config/schema.js';
import type { Point } from '../geometry.js';
import type { TrackedObject } from '../tracker/index.js';
import { anchorPoint, toPixelLength, toPixels, type PxReference } from './geometry.js';
import { inSchedule } from './schedule.js';
import type { RuleFacts } from '../../events/event-kinds.js';
import { asObject, type Rule, type RuleHit, type RuleInput, type RuleOutput } from './types.js';

type TrackRuleConfig = ZoneRuleConfig | LineRuleConfig | CountRuleConfig | StationaryRuleConfig;

/**
 * What every rule on tracks shares: which tracks count (class, score, age), when activities may
 * start (schedule, cooldown), and geometry resolved to source pixels once the frame size is known.
 */
export abstract class TrackRule<C extends TrackRuleConfig> implements Rule {
  readonly id: string;
  readonly kind: C['kind'];
  private readonly classes: ReadonlySet<string>;
  /**
   * Tracks that have met class and score once. A track keeps qualifying when its score or (with a
   * class-agnostic tracker) its label flickers, so that flicker is never an exit and a new enter.
   */
  private readonly qualified = new Set<number>();
  private readonly lastStart = new Map<string, number>();
  private size = { width: 0, height: 0 };
  private reference: PxReference | undefined;

  constructor(readonly config: C) {
    this.id = config.id;
    this.kind = config.kind;
    this.classes = new Set(config.classes);
  }

  evaluate(input: RuleInput): RuleOutput[] {
    if (input.sourceWidth !== this.size.width || input.sourceHeight !== this.size.height) {
      this.size = { width: input.sourceWidth, height: input.sourceHeight };
      this.reference = input.pxReference;
      this.resize(input.sourceWidth, input.sourceHeight);
    }
    const out = this.step(input);
    for (const id of input.removed) this.qualified.delete(id);
    return out;
  }

  /** Called before the first frame and whenever the camera's size changes. */
  protected abstract resize(width: number, height: number): void;
  protected abstract step(input: RuleInput): RuleOutput[];

  protected qualifies(t: TrackedObject, ts: number): boolean {
    if (!this.qualified.has(t.id)) {
      if (!this.classes.has(t.label) || t.score < this.config.min_score) return false;
      this.qualified.add(t.id);
    }
    return ts - t.firstSeen >= this.config.min_age_s * 1000;
  }

  protected anchor(t: TrackedObject): Point {
    return anchorPoint(t.box, this.config.anchor);
  }

  protected pixels(points: readonly Point[]): Point[] {
    return toPixels(points, this.config.units, this.size.width, this.size.height, this.reference);
  }

  protected pixelLength(length: number): number {
    return toPixelLength(length, this.config.units, this.size.width, this.size.height, this.reference);
  }

  /**
   * Whether an activity under `cooldownKey` may start now: inside the schedule, and not within
   * `cooldown_s` of the last one with that key. Records the start when it may.
   */
  protected mayStart(cooldownKey: string, ts: number): boolean {
    if (!inSchedule(ts, this.config.schedule)) return false;
    const last = this.lastStart.get(cooldownKey);
    if (last !== undefined && ts - last < this.config.cooldown_s * 1000) return false;
    this.lastStart.set(cooldownKey, ts);
    return true;
  }

  /** Cooldown entries of tracks that are gone are no use; forgetting them bounds the map. */
  protected forget(prefix: string): void {
    for (const k of this.lastStart.keys()) if (k.startsWith(prefix)) this.lastStart.delete(k);
  }

  /** `facts` must be of this rule's kind; the type cannot say so because subclasses share this base. */
  protected hit(ts: number, objects: readonly TrackedObject[], facts: RuleFacts): RuleHit {
    return { ruleId: this.config.id, streamId: this.config.stream, severity: this.config.severity, ts, objects: objects.map(asObject), facts };
  }
}
