import assert from 'node:assert/strict';
import { test } from 'node:test';
import { iou, nms, type Candidate } from '../../daemon/inference/nms.js';

const c = (classId: number, score: number, x1: number, y1: number, x2: number, y2: number): Candidate =>
  ({ classId, score, x1, y1, x2, y2 });

void test('iou of known overlaps', () => {
  assert.equal(iou(c(0, 1, 0, 0, 10, 10), c(0, 1, 0, 0, 10, 10)), 1);
  // 5x10 shared of 10x10 + 10x10 - 50 = 150
  assert.equal(iou(c(0, 1, 0, 0, 10, 10), c(0, 1, 5, 0, 15, 10)), 50 / 150);
  assert.equal(iou(c(0, 1, 0, 0, 10, 10), c(0, 1, 10, 0, 20, 10)), 0, 'touching edges do not overlap');
});

void test('nms drops a same-class overlap above the threshold and keeps the higher score', () => {
  const kept = nms([c(0, 0.6, 1, 0, 11, 10), c(0, 0.9, 0, 0, 10, 10), c(0, 0.5, 50, 50, 60, 60)], 0.5, 100);
  assert.deepEqual(kept.map((k) => k.score), [0.9, 0.5]);
});

void test('nms keeps overlapping boxes of different classes (a rider and a bicycle)', () => {
  const kept = nms([c(0, 0.9, 0, 0, 10, 10), c(1, 0.8, 0, 0, 10, 10)], 0.5, 100);
  assert.deepEqual(kept.map((k) => k.classId), [0, 1]);
});

void test('nms keeps an overlap at or below the threshold', () => {
  // IoU exactly 50/150 = 0.333…
  const kept = nms([c(0, 0.9, 0, 0, 10, 10), c(0, 0.8, 5, 0, 15, 10)], 0.34, 100);
  assert.equal(kept.length, 2);
  assert.equal(nms([c(0, 0.9, 0, 0, 10, 10), c(0, 0.8, 5, 0, 15, 10)], 0.33, 100).length, 1);
});

void test('nms caps the result at max detections, best first', () => {
  const many = Array.from({ length: 10 }, (_, i) => c(0, i / 10, i * 20, 0, i * 20 + 10, 10));
  const kept = nms(many, 0.5, 3);
  assert.deepEqual(kept.map((k) => k.score), [0.9, 0.8, 0.7]);
});

void test('a suppressed box does not suppress others (greedy against kept boxes only)', () => {
  // b overlaps a (suppressed); d overlaps b but not a, so d survives.
  const a = c(0, 0.9, 0, 0, 10, 10);
  const b = c(0, 0.8, 3, 0, 13, 10);
  const d = c(0, 0.7, 8, 0, 18, 10);
  assert.deepEqual(nms([d, b, a], 0.4, 10).map((k) => k.score), [0.9, 0.7]);
});
