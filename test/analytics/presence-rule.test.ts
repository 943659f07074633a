import assert from 'node:assert/strict';
import { test } from 'node:test';
import { presenceRuleSchema } from '../../daemon/config/schema.js';
import { PresenceRule } from '../../daemon/analytics/presence-rule.js';
import type { Detection } from '../../daemon/inference/types.js';

const person = (score: number, box: Detection['box'] = [100, 100, 150, 300]): Detection =>
  ({ classId: 0, label: 'person', score, box });
const dog: Detection = { classId: 16, label: 'dog', score: 0.9, box: [0, 0, 10, 10] };

const rule = (extra: Record<string, unknown> = {}): PresenceRule =>
  new PresenceRule(presenceRuleSchema.parse({ id: 'r', stream: 's', kind: 'presence', classes: ['person'], ...extra }));

test('fires on a matching class above the score, ignores others', () => {
  const r = rule({ min_score: 0.5, cooldown_s: 0 });
  assert.equal(r.evaluate(0, [dog]), null);
  assert.equal(r.evaluate(1, [person(0.49)]), null);
  const hit = r.evaluate(2, [dog, person(0.6)]);
  assert.ok(hit);
  assert.deepEqual(hit.objects.map((o) => o.label), ['person']);
  assert.equal(hit.severity, 'alert');
});

test('needs min_frames consecutive matches; a gap resets the count', () => {
  const r = rule({ min_frames: 3, cooldown_s: 0 });
  assert.equal(r.evaluate(0, [person(0.9)]), null);
  assert.equal(r.evaluate(1, [person(0.9)]), null);
  assert.equal(r.evaluate(2, []), null);
  assert.equal(r.evaluate(3, [person(0.9)]), null);
  assert.equal(r.evaluate(4, [person(0.9)]), null);
  assert.ok(r.evaluate(5, [person(0.9)]));
});

test('cooldown keeps one event per activity', () => {
  const r = rule({ cooldown_s: 10 });
  assert.ok(r.evaluate(1_000, [person(0.9)]));
  assert.equal(r.evaluate(5_000, [person(0.9)]), null);
  assert.equal(r.evaluate(10_999, [person(0.9)]), null);
  assert.ok(r.evaluate(11_000, [person(0.9)]));
});

test('zone counts an object by its bottom centre', () => {
  const r = rule({ cooldown_s: 0, zone: [[0, 250], [400, 250], [400, 400], [0, 400]] });
  // bottom centre (125, 200) is above the zone although the box overlaps it
  assert.equal(r.evaluate(0, [person(0.9, [100, 100, 150, 200])]), null);
  assert.ok(r.evaluate(1, [person(0.9, [100, 100, 150, 300])]));
});
