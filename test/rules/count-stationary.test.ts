import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CountRule, StationaryRule } from '../../daemon/analytics/rules/index.js';
import { countRuleSchema, ruleSchema, stationaryRuleSchema } from '../../daemon/config/schema.js';
import { at, brief, play } from './tracks.js';

const square = [[0, 0], [500, 0], [500, 500], [0, 500]];

test('count: above opens while the count exceeds it and closes when it falls back', () => {
  const rule = new CountRule(countRuleSchema.parse({ id: 'c', stream: 's', kind: 'count', classes: ['person'], zone: square, above: 2 }));
  const outs = play(rule, [
    { ts: 0, tracks: [at(1, 100, 100), at(2, 200, 100)] },
    { ts: 100, tracks: [at(1, 100, 100), at(2, 200, 100), at(3, 300, 100)] },
    // one is hidden for a moment: a lost track still counts, so this is no dip
    { ts: 200, tracks: [at(1, 100, 100), at(2, 200, 100)], lost: [at(3, 300, 100, { state: 'lost' })] },
    { ts: 300, tracks: [at(1, 100, 100), at(2, 200, 100), at(3, 300, 100), at(4, 800, 100)] },
    { ts: 400, tracks: [at(1, 100, 100), at(2, 200, 100), at(3, 700, 100)] },
  ]);
  assert.deepEqual(brief(outs), ['start above@100', 'end above@400 cleared']);
  assert.equal(rule.count, 2);
});

test('count: below and periodic counts', () => {
  const rule = new CountRule(countRuleSchema.parse({ id: 'c', stream: 's', kind: 'count', classes: ['person'], zone: square, below: 1, every_s: 1 }));
  const outs = play(rule, [
    { ts: 0, tracks: [] },
    { ts: 500, tracks: [at(1, 100, 100)] },
    { ts: 1000, tracks: [at(1, 100, 100)] },
    { ts: 1600, tracks: [at(1, 100, 100)] },
    { ts: 2000, tracks: [at(1, 100, 100)] },
  ]);
  assert.deepEqual(brief(outs), ['start below@0', 'instant periodic@0', 'end below@500 cleared', 'instant periodic@1000', 'instant periodic@2000']);
  const counts = outs.flatMap((o) => (o.type === 'instant' && o.hit.facts.kind === 'count' ? [o.hit.facts.count] : []));
  assert.deepEqual(counts, [0, 1, 1]);
});

test('count needs a threshold or a period', () => {
  const r = ruleSchema.safeParse({ id: 'c', stream: 's', kind: 'count', classes: ['person'], zone: square });
  assert.equal(r.success, false);
});

test('stationary: still for stationary_s opens once; moving off closes it', () => {
  const rule = new StationaryRule(stationaryRuleSchema.parse({ id: 'st', stream: 's', kind: 'stationary', classes: ['person'], stationary_s: 5, max_move: 10 }));
  const steps = [{ ts: 0, tracks: [at(1, 100, 100)] }];
  // it walks, then stands with a few pixels of box jitter, then walks off
  for (let i = 1; i <= 5; i++) steps.push({ ts: i * 1000, tracks: [at(1, 100 + 50 * i, 100)] });
  for (let i = 6; i <= 16; i++) steps.push({ ts: i * 1000, tracks: [at(1, 350 + (i % 2) * 4, 100 + (i % 3) * 3)] });
  steps.push({ ts: 17_000, tracks: [at(1, 420, 100)] });
  const outs = play(rule, steps);
  assert.deepEqual(brief(outs), ['start 1@10000', 'end 1@17000 moved']);
});

test('stationary: a slow creep is movement, not standing still', () => {
  const rule = new StationaryRule(stationaryRuleSchema.parse({ id: 'st', stream: 's', kind: 'stationary', classes: ['person'], stationary_s: 5, max_move: 10 }));
  const outs = play(rule, Array.from({ length: 30 }, (_, i) => ({ ts: i * 1000, tracks: [at(1, 100 + 3 * i, 100)] })));
  assert.deepEqual(brief(outs), []);
});
