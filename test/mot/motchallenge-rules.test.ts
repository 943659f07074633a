import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateMot } from '../../daemon/analytics/mot/evaluate.js';
import { MotFormatError, parseMot, type MotRow } from '../../daemon/analytics/mot/format.js';

// Ground truth in the MOT16/17/20 form: frame,id,x,y,w,h,flag,class,visibility (10×10 boxes at x).
const gtLine = (frame: number, id: number, x: number, flag: number, cls: number, y = 0): string => `${frame},${id},${x},${y},10,10,${flag},${cls},1`;
const hyp = (frame: number, id: number, x: number, y = 0): MotRow => ({ frame, id, box: [x, y, x + 10, y + 10], conf: -1 });

// Two frames. A (pedestrian) is tracked by 1. The other hypotheses sit exactly on: B, a static
// person (a distractor); C, a pedestrian flagged 0; D, an occluder (not a distractor); E, a
// non-motorised vehicle (a distractor in MOT20 only).
const gt = parseMot([1, 2].flatMap((f) => [
  gtLine(f, 1, 0, 1, 1), gtLine(f, 2, 100, 1, 7), gtLine(f, 3, 200, 0, 1), gtLine(f, 4, 300, 1, 9), gtLine(f, 5, 400, 1, 6),
]).join('\n'), 'gt.txt');
const hyps = [1, 2].flatMap((f) => [hyp(f, 1, 0), hyp(f, 2, 100), hyp(f, 3, 200), hyp(f, 4, 300), hyp(f, 5, 400)]);

test('9-column ground truth is read with its class and visibility; MOT15 rows carry none', () => {
  assert.deepEqual(gt[1], { frame: 1, id: 2, box: [100, 0, 110, 10], conf: 1, cls: 7, visibility: 1 });
  const mot15 = parseMot('1,1,88,99,61.08,218.56,1,4.4852,5.5016,0', 'tud.txt');
  assert.equal(mot15[0]!.cls, undefined);
  assert.equal(evaluateMot(mot15, []).benchmark, 'MOT15');
});

test('MOT17 rules: only flagged pedestrians are scored; a box on a distractor is neither TP nor FP', () => {
  const m = evaluateMot(gt, hyps);
  assert.equal(m.benchmark, 'MOT17');
  // Kept: A in both frames (2 boxes). Hypotheses on B are dropped (2); on C, D and E they are false positives (6).
  assert.deepEqual([m.gt, m.gtIgnored, m.hyp, m.hypIgnored], [2, 8, 8, 2]);
  assert.deepEqual([m.matches, m.fp, m.fn, m.idsw], [2, 6, 0, 0]);
  assert.equal(m.mota, -200); // (2 − 6 − 0) / 2
  assert.equal(m.idf1, 40); // 2·2 / (2·2 + 6 + 0)
  // Every match is exact: DetA 2 / (2 + 0 + 6) at every α, AssA 1, HOTA √0.25.
  assert.deepEqual([m.detA, m.assA, m.hota, m.locA], [25, 100, 50, 100]);
});

test('MOT20 rules also excuse a box on a non-motorised vehicle', () => {
  const m = evaluateMot(gt, hyps, { benchmark: 'MOT20' });
  assert.deepEqual([m.hyp, m.hypIgnored, m.fp], [6, 4, 4]);
  assert.equal(m.mota, -100);
  assert.ok(Math.abs(m.hota - 100 * Math.sqrt(1 / 3)) < 1e-9);
});

test('MOT15 rules keep every hypothesis and every row not flagged 0', () => {
  const m = evaluateMot(gt, hyps, { benchmark: 'MOT15' });
  assert.deepEqual([m.gt, m.hyp, m.matches, m.fp, m.fn], [8, 10, 8, 2, 0]);
});

test('the distractor match is an optimal assignment at IoU ≥ 0.5, not "any overlap"', () => {
  // Pedestrian P at y 0 and static person S at y 3. Hypothesis 1 at y 2 overlaps both (IoU 8/12
  // with P, 9/11 with S): the assignment gives it to S, so it is dropped and P is missed.
  // Hypothesis 2 overlaps a second static person by IoU 7/13 ≈ 0.54 (dropped); hypothesis 3 only by
  // 6/14 ≈ 0.43 (kept, a false positive).
  const g = parseMot([gtLine(1, 1, 0, 1, 1), gtLine(1, 2, 0, 1, 7, 3), gtLine(1, 3, 100, 1, 7), gtLine(1, 4, 200, 1, 7)].join('\n'), 'gt.txt');
  const m = evaluateMot(g, [hyp(1, 1, 0, 2), hyp(1, 2, 103), hyp(1, 3, 204)]);
  assert.deepEqual([m.hypIgnored, m.hyp, m.matches, m.fn, m.fp], [2, 1, 0, 1, 1]);
});

test('a class outside MOTChallenge\'s 1..13 is refused, naming the file and the row', () => {
  const bad = parseMot(gtLine(3, 9, 0, 1, 14), 'seq/gt.txt');
  assert.throws(() => evaluateMot(bad, [], { gtFile: 'seq/gt.txt' }),
    (e: unknown) => e instanceof MotFormatError && /^seq\/gt\.txt: frame 3, id 9: class 14 is not a MOTChallenge class/.test(e.message));
  assert.throws(() => evaluateMot(parseMot('1,1,0,0,10,10,1,-1,-1,-1', 'tud.txt'), [], { benchmark: 'MOT17' }),
    (e: unknown) => e instanceof MotFormatError && /needs 9 columns with a class/.test(e.message));
});
