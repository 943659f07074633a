import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineRule } from '../../daemon/analytics/rules/index.js';
import { lineRuleSchema } from '../../daemon/config/schema.js';
import { at, brief, play, type Step } from './tracks.js';

// Drawn left to right, so side a is above it (smaller y) and b below.
const line = (extra: Record<string, unknown> = {}): LineRule =>
  new LineRule(lineRuleSchema.parse({ id: 'l', stream: 's', kind: 'line', classes: ['person'], line: [[100, 500], [900, 500]], margin: 10, ...extra }));

const path = (id: number, ys: number[], x = 500): Step[] => ys.map((y, i) => ({ ts: i * 100, tracks: [at(id, x, y)] }));

test('a crossing in each direction is counted once, with its direction', () => {
  const rule = line();
  const outs = play(rule, [...path(1, [400, 450, 480, 520, 560, 600]), ...path(2, [600, 530, 470, 400]).map((s) => ({ ...s, ts: s.ts + 1000 }))]);
  assert.deepEqual(brief(outs), ['instant crossing a_to_b@300', 'instant crossing b_to_a@1200']);
  assert.deepEqual(rule.counts, { a_to_b: 1, b_to_a: 1 });
});

test('jitter on the line, inside the margin band, is no crossing', () => {
  const rule = line();
  const outs = play(rule, path(1, [480, 495, 505, 492, 509, 491, 508, 489, 495, 470]));
  assert.deepEqual(brief(outs), []);
  assert.deepEqual(rule.counts, { a_to_b: 0, b_to_a: 0 });
});

test('stepping into the band and back out on the same side is no crossing; a real one after it is', () => {
  const outs = play(line(), path(1, [450, 505, 450, 505, 550]));
  assert.deepEqual(brief(outs), ['instant crossing a_to_b@400']);
});

test('direction filters: a_to_b ignores the way back', () => {
  const outs = play(line({ direction: 'a_to_b' }), path(1, [450, 550, 450, 550]));
  assert.deepEqual(brief(outs), ['instant crossing a_to_b@100', 'instant crossing a_to_b@300']);
});

test('passing round the end of the line is no crossing', () => {
  const outs = play(line(), path(1, [450, 550], 950));
  assert.deepEqual(brief(outs), []);
});

test('a polyline counts a crossing on any of its segments', () => {
  const bent = line({ line: [[0, 500], [500, 500], [500, 1000]] });
  // Crosses the vertical segment going right, below the corner.
  const outs = play(bent, [{ ts: 0, tracks: [at(1, 450, 800)] }, { ts: 100, tracks: [at(1, 550, 800)] }]);
  assert.equal(outs.length, 1);
});

test('a track lost mid-crossing counts when re-found on the far side', () => {
  const outs = play(line(), [
    { ts: 0, tracks: [at(1, 500, 450)] },
    { ts: 100, lost: [at(1, 500, 500, { state: 'lost' })] },
    { ts: 200, tracks: [at(1, 500, 560)] },
  ]);
  assert.deepEqual(brief(outs), ['instant crossing a_to_b@200']);
});
