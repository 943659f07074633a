import { z } from 'zod';

/**
 * What an event says, by kind, defined once. A rule builds these facts (analytics/rules), the event
 * recorder stores them as they are under the event's `payload.facts`, the uplink spreads them into
 * the `vigil.alert/1` message beside the envelope (uplink/payloads.ts), docs/asyncapi.json is
 * generated from the same schemas and `vigilctl events show` prints them. A fact added here reaches
 * every one of those places, or the build or the contract tests fail.
 *
 * The union is on `kind` (the rule's kind, or the source of a non-rule event); kinds with several
 * triggers (zone, count) are unions on `trigger` within it, so each trigger's facts are typed too.
 * Model, storage and audit events are stored alike but leave on their own topics with their own
 * schemas (vigil.model/1, vigil.storage/1, vigil.audit/1), whose fields are their facts.
 */

const trackId = z.number().int().min(0).describe('The tracker\'s id of the object; stable while the object stays tracked.');
const seconds = z.number().min(0);
const count = z.number().int().min(0);

/** Frame-based presence: detections of the rule's classes (in its zone) for `min_frames` frames; the objects are the facts. */
export const presenceFactsSchema = z.strictObject({
  kind: z.literal('presence'),
  /** With `count: objects`: the tracked object this presence is of. */
  track_id: trackId.optional(),
});

/** A zone rule: which of its configured `events` this is. */
export const zoneEnterFactsSchema = z.strictObject({
  kind: z.literal('zone'),
  /** One event per stay: starts at the enter, ends at the exit. */
  trigger: z.literal('enter'),
  track_id: trackId,
  /** On the end: seconds the track was inside. */
  inside_s: seconds.optional(),
});
export const zoneExitFactsSchema = z.strictObject({
  kind: z.literal('zone'),
  trigger: z.literal('exit'),
  track_id: trackId,
  inside_s: seconds,
});
export const zoneDwellFactsSchema = z.strictObject({
  kind: z.literal('zone'),
  /** Opens once the track has been inside `dwell_s`, ends when it leaves. */
  trigger: z.literal('dwell'),
  track_id: trackId,
  /** Seconds inside when the dwell opened. */
  dwell_s: seconds,
  inside_s: seconds.optional(),
});
export const zonePresenceFactsSchema = z.strictObject({
  kind: z.literal('zone'),
  /** Zone-wide: open while any qualifying track is inside. */
  trigger: z.literal('presence'),
  /** Tracks inside when it opened. */
  count,
});
export const zoneFactsSchema = z.discriminatedUnion('trigger', [
  zoneEnterFactsSchema, zoneExitFactsSchema, zoneDwellFactsSchema, zonePresenceFactsSchema,
]);

export const crossingDirectionSchema = z.enum(['a_to_b', 'b_to_a'])
  .describe('Side a is on the left of the line walked from its first point to its last, as seen on screen.');

/** A line crossing: one instant event per crossing track. The line is the rule (`rule`). */
export const lineFactsSchema = z.strictObject({
  kind: z.literal('line'),
  direction: crossingDirectionSchema,
  track_id: trackId,
});

/** Qualifying tracks inside a count rule's zone. */
export const countPeriodicFactsSchema = z.strictObject({
  kind: z.literal('count'),
  /** Every `every_s`: an instant event. */
  trigger: z.literal('periodic'),
  count,
});
const thresholdFacts = {
  kind: z.literal('count'),
  /** At the start: the count that crossed the threshold; on the end: the count that closed it. */
  count,
  /** The rule's `above` or `below`; absent on events recorded before it was stored (migration 4). */
  threshold: count.optional(),
};
export const countAboveFactsSchema = z.strictObject({ ...thresholdFacts, trigger: z.literal('above') });
export const countBelowFactsSchema = z.strictObject({ ...thresholdFacts, trigger: z.literal('below') });
export const countFactsSchema = z.discriminatedUnion('trigger', [countPeriodicFactsSchema, countAboveFactsSchema, countBelowFactsSchema]);

/** An object that stayed within `max_move` for `stationary_s`; ends when it moves off, leaves or is lost. */
export const stationaryFactsSchema = z.strictObject({
  kind: z.literal('stationary'),
  track_id: trackId,
  /** Seconds it had been still: when it started, and (on the end) in all. */
  stationary_s: seconds,
});

/** Motion without a model (or beside one); the moving regions are the objects. */
export const motionFactsSchema = z.strictObject({ kind: z.literal('motion') });

/** `vigilctl test-alert`: not a detection; the envelope also carries `test: true`. */
export const testFactsSchema = z.strictObject({ kind: z.literal('test') });

/** The facts of every event that leaves as `vigil.alert/1`, on `…/alerts` or `…/events`. */
export const eventFactsSchema = z.discriminatedUnion('kind', [
  presenceFactsSchema, zoneFactsSchema, lineFactsSchema, countFactsSchema, stationaryFactsSchema, motionFactsSchema, testFactsSchema,
]);
export type EventFacts = z.infer<typeof eventFactsSchema>;
export type RuleFacts = Exclude<EventFacts, { kind: 'test' }>;


/**
 * What an activity's end adds to its start's facts (merged into the stored facts, and so on the
 * `end` message): how long the track was inside, how long it stood still, the count that closed it.
 */
export const activityEndFactsSchema = z.strictObject({ inside_s: seconds, stationary_s: seconds, count }).partial();
export type ActivityEndFacts = z.infer<typeof activityEndFactsSchema>;

/** The verb a local action or a log line shows for the facts: enter, crossing, above, stationary, … */
export function triggerOf(facts: EventFacts): string {
  switch (facts.kind) {
    case 'zone': case 'count': return facts.trigger;
    case 'line': return 'crossing';
    case 'presence': case 'stationary': case 'motion': case 'test': return facts.kind;
  }
}

/** The track the event belongs to; undefined for zone-wide and frame-based events. */
export const trackOf = (facts: EventFacts): number | undefined => ('track_id' in facts ? facts.track_id : undefined);

/**
 * The facts of a stored event. Rows written since migration 4 hold them under `payload.facts`;
 * a row in the old shape (facts loose in the payload, the verb in `activity`) is read the way
 * migration 4 rewrites it, so an event that skipped the migration (a test fixture, a bench) still
 * goes out valid. Throws a zod error naming the field when the facts do not fit their kind.
 */
export function storedFacts(kind: string, payload: Readonly<Record<string, unknown>>): EventFacts {
  const facts = payload['facts'];
  if (facts !== undefined) return eventFactsSchema.parse(facts);
  return eventFactsSchema.parse(legacyFacts(kind, payload));
}

function legacyFacts(kind: string, p: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const pick = (...keys: string[]): Record<string, unknown> =>
    Object.fromEntries(keys.filter((k) => p[k] !== undefined && p[k] !== null).map((k) => [k, p[k]]));
  switch (kind) {
    case 'zone': return { kind, trigger: p['activity'], ...pick('track_id', 'dwell_s', 'inside_s', 'count') };
    case 'line': return { kind, ...pick('direction', 'track_id') };
    case 'count': return { kind, trigger: p['activity'] === 'count' ? 'periodic' : p['activity'], ...pick('count') };
    case 'stationary': return { kind, ...pick('track_id'), ...(p['still_s'] !== undefined ? { stationary_s: p['still_s'] } : {}) };
    default: return { kind };
  }
}

/** The facts as `key=value` words after the kind, for `vigilctl events show` and `list`. */
export function factsText(facts: EventFacts): string {
  return Object.entries(facts).filter(([k]) => k !== 'kind').map(([k, v]) => `${k}=${String(v)}`).join(' ');
}
