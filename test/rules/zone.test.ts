import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ZoneRule } from '../../daemon/analytics/rules/index.js';
import { Tracker } from '../../daemon/analytics/tracker/index.js';
import { zoneRuleSchema } from '../../daemon/config/schema.js';
import type { Detection } from '../../daemon/inference/types.js';
import { at, brief, play } from './tracks.js';

const square = [[100, 100], [500, 100], [500, 500], [100, 500]];
const zone = (extra: Record<string, unknown> = {}): ZoneRule =>
  new ZoneRule(zoneRuleSchema.parse({ id: 'z', stream: 's', kind: 'zone', classes: ['person'], zone: square, ...extra }));

test('enter and exit of one stay make one activity: start at the enter, end at the exit', () => {
  const outs = play(zone({ events: ['enter', 'exit'] }), [
    { ts: 0, tracks: [at(1, 50, 300)] },
    { ts: 100, tracks: [at(1, 150, 300)] },
    { ts: 200, tracks: [at(1, 300, 300)] },
    { ts: 300, tracks: [at(1, 600, 300)] },
  ]);
  assert.deepEqual(brief(outs), ['start enter/1@100', 'end enter/1@300 exit']);
});

test('exit alone is an instant event at the exit', () => {
  const outs = play(zone({ events: ['exit'] }), [
    { ts: 0, tracks: [at(1, 150, 300)] },
    { ts: 100, tracks: [at(1, 600, 300)] },
  ]);
  assert.deepEqual(brief(outs), ['instant exit@100']);
});

test('dwell fires once, after dwell_s inside, and ends at the exit', () => {
  const steps = Array.from({ length: 40 }, (_, i) => ({ ts: i * 500, tracks: [at(7, 200 + (i % 3), 300)] }));
  steps.push({ ts: 20_000, tracks: [at(7, 700, 300)] });
  const outs = play(zone({ events: ['dwell'], dwell_s: 10 }), steps);
  assert.deepEqual(brief(outs), ['start dwell/7@10000', 'end dwell/7@20000 exit']);
});

test('a concave zone: a point in the notch is outside, points in both arms are inside', () => {
  // A U shape: the notch between the arms (x 200..300, y 100..400) is not part of the zone.
  const u = [[100, 100], [200, 100], [200, 400], [300, 400], [300, 100], [400, 100], [400, 500], [100, 500]];
  const outs = play(zone({ zone: u, events: ['enter'] }), [
    { ts: 0, tracks: [at(1, 250, 300), at(2, 150, 200), at(3, 350, 200)] },
    { ts: 100, tracks: [at(1, 250, 450)] },
  ]);
  assert.deepEqual(brief(outs), ['start enter/2@0', 'start enter/3@0', 'start enter/1@100']);
});

test('presence is one zone-wide activity while anyone is inside', () => {
  const outs = play(zone({ events: ['presence'] }), [
    { ts: 0, tracks: [at(1, 150, 300)] },
    { ts: 100, tracks: [at(1, 160, 300), at(2, 300, 300)] },
    { ts: 200, tracks: [at(1, 700, 300), at(2, 300, 300)] },
    { ts: 300, tracks: [at(2, 700, 300)] },
  ]);
  assert.deepEqual(brief(outs), ['start presence@0', 'end presence@300 cleared']);
});

test('class, min_score and min_age_s filter tracks; a qualified track keeps qualifying while its score dips', () => {
  const outs = play(zone({ min_score: 0.5, min_age_s: 1 }), [
    { ts: 0, tracks: [at(1, 150, 300, { label: 'dog' }), at(2, 150, 300, { score: 0.3 }), at(3, 150, 300)] },
    { ts: 500, tracks: [at(3, 150, 300)] },
    { ts: 1000, tracks: [at(3, 150, 300, { score: 0.2 })] },
    { ts: 1500, tracks: [at(1, 150, 300, { label: 'dog' }), at(2, 150, 300, { score: 0.3 }), at(3, 150, 300, { score: 0.2 })] },
  ]);
  assert.deepEqual(brief(outs), ['start enter/3@1000']);
});

test('norm units scale the zone to the camera frame', () => {
  const outs = play(zone({ units: 'norm', zone: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]] }), [
    { ts: 0, tracks: [at(1, 600, 300), at(2, 300, 300)] },
  ]);
  assert.deepEqual(brief(outs), ['start enter/2@0']);
});

test('schedule and cooldown hold back starts', () => {
  const monday10 = new Date(2024, 0, 1, 10, 0).getTime(); // 1 January 2024 was a Monday
  const rule = zone({ cooldown_s: 60, schedule: [{ days: ['mon'], from: '09:00', to: '17:00' }] });
  const outs = play(rule, [
    { ts: monday10, tracks: [at(1, 150, 300)] },
    { ts: monday10 + 1000, tracks: [at(1, 700, 300)] },
    { ts: monday10 + 2000, tracks: [at(1, 150, 300)] }, // within the cooldown: no second enter
    { ts: monday10 + 3000, tracks: [at(1, 700, 300)] },
    { ts: monday10 + 8 * 3600_000, tracks: [at(2, 150, 300)] }, // 18:00, outside the schedule
  ]);
  assert.deepEqual(brief(outs), [`start enter/1@${monday10}`, `end enter/1@${monday10 + 1000} exit`]);
});

const person = (x: number, y: number): Detection => ({ classId: 0, label: 'person', score: 0.9, box: [x - 20, y - 80, x + 20, y] });

test('through the real tracker: a track lost and re-found inside the zone gives no second enter', () => {
  const tracker = new Tracker({ max_lost_ms: 2000 });
  const rule = zone({ events: ['enter', 'exit'] });
  const outs: string[] = [];
  // Walks right 10 px a frame at 10 fps; missed by the detector for 1 s in the middle of the zone.
  for (let i = 0; i <= 50; i++) {
    const x = 50 + 10 * i;
    const dets = i >= 20 && i < 30 ? [] : [person(x, 300)];
    const f = tracker.update(i * 100, dets);
    for (const o of rule.evaluate({ ts: i * 100, detections: dets, ...f, sourceWidth: 1000, sourceHeight: 1000 })) {
      outs.push(o.type === 'end' ? `end ${o.key}@${i * 100} ${o.reason}` : o.type === 'start' ? `start ${o.key}@${i * 100}` : 'instant');
    }
  }
  // The bottom centre is on the zone's left edge (x = 100) at frame 5 and on its right edge at
  // frame 45; with the 8 px edge band it is inside from frame 6 (10 px in) until frame 46 (10 px out).
  assert.deepEqual(outs, ['start enter/1@600', 'end enter/1@4600 exit']);
});

test('a track removed inside ends its activity as lost, without an exit event', () => {
  const outs = play(zone({ events: ['enter', 'exit', 'dwell'], dwell_s: 1 }), [
    { ts: 0, tracks: [at(1, 150, 300)] },
    { ts: 1000, tracks: [at(1, 150, 300)] },
    { ts: 2000, lost: [at(1, 150, 300, { state: 'lost' })] },
    { ts: 4000, removed: [1] },
  ]);
  assert.deepEqual(brief(outs), ['start enter/1@0', 'start dwell/1@1000', 'end enter/1@4000 track_lost', 'end dwell/1@4000 track_lost']);
});

test('a track jittering on the zone edge enters once and leaves once: the edge band holds its side', () => {
  // The zone's left edge is x = 100. A person stands on it, their feet jittering ±6 px, then walks
  // clear inside, back onto the edge, and finally clear outside.
  const jitter = [96, 104, 99, 106, 95, 103, 101, 94, 105, 100];
  const steps = [
    ...jitter.map((x, i) => ({ ts: i * 100, tracks: [at(1, x, 300)] })),
    { ts: 1000, tracks: [at(1, 130, 300)] },
    ...jitter.map((x, i) => ({ ts: 1100 + i * 100, tracks: [at(1, x, 300)] })),
    { ts: 2100, tracks: [at(1, 70, 300)] },
  ];
  assert.deepEqual(brief(play(zone({ events: ['enter'] }), steps)), ['start enter/1@1000', 'end enter/1@2100 exit']);
  // Without the band, the same walk is a stream of enters and exits: the reason the band exists.
  assert.ok(brief(play(zone({ events: ['enter'], margin: 0 }), steps)).length > 8);
  // The band scales with units norm: 0.01 of the 1000×1000 frame's diagonal is 14 px, so 106 is still on the edge.
  const norm = square.map(([x, y]) => [x! / 1000, y! / 1000]);
  assert.deepEqual(brief(play(zone({ events: ['enter'], units: 'norm', zone: norm, margin: 0.01 }), [
    { ts: 0, tracks: [at(1, 106, 300)] }, { ts: 100, tracks: [at(1, 120, 300)] },
  ])), ['start enter/1@100']);
});
