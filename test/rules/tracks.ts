import type { Box } from '../../daemon/inference/types.js';
import type { RuleInput, RuleOutput, Rule } from '../../daemon/analytics/rules/index.js';
import type { TrackedObject } from '../../daemon/analytics/tracker/index.js';
import { triggerOf } from '../../daemon/events/event-kinds.js';

/** A confirmed track whose bottom centre is at (x, y): a 20×40 box standing on that point. */
export function at(id: number, x: number, y: number, extra: Partial<TrackedObject> = {}): TrackedObject {
  const box: Box = [x - 10, y - 40, x + 10, y];
  return { id, state: 'confirmed', classId: 0, label: 'person', score: 0.9, box, velocity: [0, 0], age: 1, hits: 1, firstSeen: 0, lastSeen: 0, ...extra };
}

export interface Step {
  ts: number;
  tracks?: TrackedObject[];
  lost?: TrackedObject[];
  removed?: number[];
}

/** Runs a rule over frames of hand-made tracks (a 1000×1000 camera) and returns every output with its frame time. */
export function play(rule: Rule, steps: readonly Step[]): (RuleOutput & { at: number })[] {
  const outs: (RuleOutput & { at: number })[] = [];
  for (const s of steps) {
    const input: RuleInput = { ts: s.ts, detections: [], tracks: s.tracks ?? [], lost: s.lost ?? [], removed: s.removed ?? [], sourceWidth: 1000, sourceHeight: 1000 };
    for (const o of rule.evaluate(input)) outs.push({ ...o, at: s.ts });
  }
  return outs;
}

/** A compact view for assertions: "start enter/1@300", "end enter/1@900 exit", "instant crossing@400". */
export const brief = (outs: readonly (RuleOutput & { at: number })[]): string[] => outs.map((o) => {
  switch (o.type) {
    case 'start': return `start ${o.key}@${o.at}`;
    case 'end': return `end ${o.key}@${o.at} ${o.reason}`;
    case 'instant': return `instant ${triggerOf(o.hit.facts)}${o.hit.facts.kind === 'line' ? ` ${o.hit.facts.direction}` : ''}@${o.at}`;
  }
});
