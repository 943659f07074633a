import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trackerConfigSchema } from '../../daemon/analytics/tracker/config.js';
import { Tracker, type TrackerFrame } from '../../daemon/analytics/tracker/tracker.js';
import type { Box, Detection } from '../../daemon/inference/types.js';

const FRAME_MS = 40;
const person = (box: Box, score = 0.9): Detection => ({ classId: 0, label: 'person', score, box });
const at = (x: number, y: number, w = 40, h = 100): Box => [x, y, x + w, y + h];

/** Feeds frames 0..n-1 and returns every frame's answer. */
function run(tracker: Tracker, n: number, detsAt: (f: number) => Detection[]): TrackerFrame[] {
  return Array.from({ length: n }, (_, f) => tracker.update(f * FRAME_MS, detsAt(f)));
}

/** The id of the reported track nearest to `x` (by box left edge), or undefined. */
function idNear(frame: TrackerFrame, x: number): number | undefined {
  let best: { id: number; d: number } | undefined;
  for (const t of frame.tracks) {
    const d = Math.abs(t.box[0] - x);
    if (d < 20 && (!best || d < best.d)) best = { id: t.id, d };
  }
  return best?.id;
}

test('two objects crossing each other keep their ids', () => {
  const tracker = new Tracker();
  // A walks right, B walks left, 8 px per frame; their boxes overlap heavily for several frames.
  const ax = (f: number): number => 20 + 8 * f;
  const bx = (f: number): number => 420 - 8 * f;
  const frames = run(tracker, 50, (f) => [person(at(ax(f), 100)), person(at(bx(f), 110))]);
  const a = idNear(frames[2]!, ax(2));
  const b = idNear(frames[2]!, bx(2));
  assert.ok(a !== undefined && b !== undefined && a !== b);
  for (let f = 2; f < 50; f++) {
    if (Math.abs(ax(f) - bx(f)) < 24) continue; // too close to tell apart by position alone
    assert.equal(idNear(frames[f]!, ax(f)), a, `frame ${f}: A`);
    assert.equal(idNear(frames[f]!, bx(f)), b, `frame ${f}: B`);
  }
  assert.equal(Math.max(...frames.flatMap((fr) => fr.tracks.map((t) => t.id))), 2, 'no third id was handed out');
});

test('a track lost for a few frames is predicted through the gap and re-found with its id', () => {
  const tracker = new Tracker();
  const x = (f: number): number => 50 + 6 * f;
  const gap = (f: number): boolean => f >= 20 && f < 26; // 240 ms hidden, e.g. behind a pillar
  const frames = run(tracker, 40, (f) => (gap(f) ? [] : [person(at(x(f), 100))]));
  const id = frames[5]!.tracks[0]!.id;
  for (let f = 20; f < 26; f++) {
    assert.equal(frames[f]!.tracks.length, 0, `frame ${f}: nothing seen`);
    assert.equal(frames[f]!.lost[0]?.id, id, `frame ${f}: kept as lost`);
    assert.ok(Math.abs(frames[f]!.lost[0]!.box[0] - x(f)) < 10, `frame ${f}: predicted along its path`);
  }
  for (let f = 26; f < 40; f++) assert.deepEqual(frames[f]!.tracks.map((t) => t.id), [id], `frame ${f}`);
  assert.ok(frames.every((fr) => fr.removed.length === 0));
});

test('a track lost for longer than max_lost_ms is removed once, and its object comes back with a new id', () => {
  const tracker = new Tracker({ max_lost_ms: 200 });
  const frames = run(tracker, 30, (f) => (f >= 10 && f < 20 ? [] : [person(at(100, 100))]));
  const first = frames[5]!.tracks[0]!.id;
  const removedAt = frames.findIndex((fr) => fr.removed.includes(first));
  assert.equal(removedAt, 15, 'removed in the first frame more than 200 ms after its last detection (frame 9)');
  assert.equal(frames.flatMap((fr) => fr.removed).length, 1);
  const later = frames[25]!.tracks[0]!.id;
  assert.notEqual(later, first);
});

test('a short false positive never becomes a confirmed track', () => {
  const tracker = new Tracker();
  const frames = run(tracker, 20, (f) => [
    person(at(100, 100)),
    ...(f === 5 ? [person(at(400, 50), 0.95)] : []), // one frame
    ...(f >= 10 && f % 2 === 0 ? [person(at(300, 200), 0.95)] : []), // flickers every other frame
  ]);
  for (const [f, fr] of frames.entries()) assert.deepEqual(fr.tracks.map((t) => t.id), [1], `frame ${f}`);
  assert.ok(tracker.size <= 2, 'tentative tracks are dropped at their first miss');
});

test('low-score detections keep a track alive but never start one', () => {
  const tracker = new Tracker();
  const frames = run(tracker, 20, (f) => [
    person(at(100 + 5 * f, 100), f < 5 ? 0.9 : 0.3), // an occluded person scores low
    person(at(400, 100), 0.3), // clutter
  ]);
  for (let f = 1; f < 20; f++) assert.deepEqual(frames[f]!.tracks.map((t) => t.id), [1], `frame ${f}`);
  assert.equal(frames[19]!.tracks[0]!.score, 0.3);
  assert.equal(frames[19]!.tracks[0]!.hits, 20);
});

test('detections of another class do not feed a track unless class_agnostic', () => {
  const car = (box: Box): Detection => ({ classId: 2, label: 'car', score: 0.9, box });
  const aware = run(new Tracker(), 10, (f) => [f < 5 ? person(at(100, 100)) : car(at(100, 100))]);
  assert.notEqual(aware[9]!.tracks[0]!.id, aware[4]!.tracks[0]!.id);
  assert.equal(aware[9]!.tracks[0]!.label, 'car');
  const agnostic = run(new Tracker({ class_agnostic: true }), 10, (f) => [f < 5 ? person(at(100, 100)) : car(at(100, 100))]);
  assert.equal(agnostic[9]!.tracks[0]!.id, agnostic[4]!.tracks[0]!.id);
  assert.equal(agnostic[9]!.tracks[0]!.label, 'car');
});

test('reports the filtered box, velocity in px/s, age, hits and first/last seen', () => {
  const tracker = new Tracker();
  const frames = run(tracker, 25, (f) => [person(at(10 + 4 * f, 100))]); // 4 px / 40 ms = 100 px/s
  const t = frames[24]!.tracks[0]!;
  assert.equal(t.state, 'confirmed');
  assert.equal(t.age, 25);
  assert.equal(t.hits, 25);
  assert.equal(t.firstSeen, 0);
  assert.equal(t.lastSeen, 24 * FRAME_MS);
  assert.ok(Math.abs(t.velocity[0] - 100) < 10, `vx ${t.velocity[0]}`);
  assert.ok(Math.abs(t.box[0] - (10 + 4 * 24)) < 3);
});

test('ids are unique and increasing per tracker, and independent between trackers', () => {
  const a = new Tracker();
  const b = new Tracker();
  const seen = new Set<number>();
  for (let round = 0; round < 5; round++) {
    // Each round a new object appears far from the last one, is tracked, then vanishes for good.
    const frames = run(a, 10, (f) => (f < 5 ? [person(at(100 * round, 0))] : []));
    const id = frames[3]!.tracks[0]!.id;
    assert.ok(!seen.has(id));
    seen.add(id);
    a.reset();
  }
  assert.deepEqual([...seen], [1, 2, 3, 4, 5]);
  assert.equal(run(b, 3, () => [person(at(0, 0))])[2]!.tracks[0]!.id, 1);
});

test('the config schema fills defaults and rejects contradictions', () => {
  const c = trackerConfigSchema.parse({});
  assert.equal(c.min_hits, 2);
  assert.equal(c.kalman.measurement_std, 0.1);
  assert.throws(() => trackerConfigSchema.parse({ high_score: 0.3, low_score: 0.5 }), /low_score/);
  assert.throws(() => trackerConfigSchema.parse({ min_hit: 2 }), /min_hit/);
});
