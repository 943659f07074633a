import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tracker } from '../../daemon/analytics/tracker/tracker.js';
import type { Look } from '../../daemon/analytics/tracker/appearance.js';
import type { Box, Detection } from '../../daemon/inference/types.js';

/**
 * Two people walk towards each other along one row (25 fps, 10 px a frame) and meet at frame 15:
 * B stops there, A turns back. From frame 12 to 18 A is hidden behind B. A's lost track runs on
 * along its old heading, onto B, and its direction agrees with B's box better than B's own
 * (stopped) track does, so motion in one joint assignment (`lost_after_tracked` off) gives B's box
 * to A's track, and A's box, when A comes out at frame 19, to whatever is left: the two ids swap.
 * With lost tracks matched after the tracked ones (the default) B keeps its id, but A's lost track,
 * predicted on past the meeting point, misses A coming back: A gets a new id. Appearance (a look
 * that tells A from B, as OSNet does for two differently dressed people) re-finds A with their id.
 */
const FRAME_MS = 40;
const box = (x: number): Box => [x, 100, x + 50, 200];
const ax = (f: number): number => (f <= 15 ? 10 * f : 150 - 10 * (f - 15));
const bx = (f: number): number => (f <= 15 ? 300 - 10 * f : 150);
const hidden = (f: number): boolean => f >= 12 && f <= 18;
const person = (b: Box): Detection => ({ classId: 0, label: 'person', score: 0.9, box: b });

function frame(f: number): Detection[] {
  return hidden(f) ? [person(box(bx(f)))] : [person(box(ax(f))), person(box(bx(f)))];
}

/** A's and B's "embeddings": unit vectors far apart, told by which person the box is nearest. */
function lookAt(f: number, asked: number[]): Look {
  return (boxes) => {
    asked[f] = (asked[f] ?? 0) + boxes.length;
    return Promise.resolve(boxes.map((b) => {
      const isA = !hidden(f) && Math.abs(b[0] - ax(f)) < Math.abs(b[0] - bx(f));
      const v = new Float32Array(8);
      v[isA ? 0 : 1] = 0.98;
      v[2] = Math.sqrt(1 - 0.98 * 0.98);
      return v;
    }));
  };
}

async function walk(appearance: boolean, lostAfterTracked = true): Promise<{ a: number[]; b: number[]; asked: number[]; tracker: Tracker }> {
  const tracker = new Tracker({ appearance: { enabled: appearance }, lost_after_tracked: lostAfterTracked });
  const asked: number[] = [];
  const a: number[] = [];
  const b: number[] = [];
  for (let f = 0; f <= 30; f++) {
    const out = await tracker.updateSeeing(f * FRAME_MS, frame(f), lookAt(f, asked));
    const at = (x: number): number | undefined => out.tracks.find((t) => Math.abs(t.box[0] - x) < 20)?.id;
    if (!hidden(f)) a.push(at(ax(f)) ?? -1);
    b.push(at(bx(f)) ?? -1);
  }
  return { a, b, asked, tracker };
}

test('appearance keeps two ids through an occlusion where motion swaps them', async () => {
  const off = await walk(false);
  const on = await walk(true);
  const distinct = (ids: number[]): number[] => [...new Set(ids.filter((id) => id > 0))];
  // Without appearance, A comes back with a new id; B keeps its own.
  assert.ok(distinct(off.a).length > 1 && distinct(off.b).length === 1, `without appearance: A ${off.a.join(',')}; B ${off.b.join(',')}`);
  // In one joint assignment, A's lost track (predicted past the meeting point) also takes B's box.
  const joint = await walk(false, false);
  assert.ok(distinct(joint.b).length > 1 && distinct(joint.a).length > 1, `joint: A ${joint.a.join(',')}; B ${joint.b.join(',')}`);
  assert.deepEqual(distinct(on.a), [1], `with appearance A keeps id 1: ${on.a.join(',')}`);
  assert.deepEqual(distinct(on.b), [2], `and B id 2: ${on.b.join(',')}`);
  assert.equal(off.asked.length, 0, 'with the cue off the tracker never looks');
  assert.ok(on.tracker.appearanceStats.reidentified >= 1, JSON.stringify(on.tracker.appearanceStats));
});

test('the cue looks once per new track, then only where motion is ambiguous: never while the two are far apart', async () => {
  const { asked, tracker } = await walk(true);
  // One first look at each track when it is confirmed (frame 1, the first with a prediction to
  // match against); then nothing while the two are far apart: centres are 300 − 20 f apart, within
  // 1.5 box heights (150 px) from frame 8 on.
  assert.equal(asked[0] ?? 0, 0, 'frame 0: no track yet to look for');
  assert.equal(asked[1], 2, 'frame 1: one first look per track');
  for (let f = 2; f < 8; f++) assert.equal(asked[f] ?? 0, 0, `frame ${f}: ${asked[f]} crops while the two are far apart`);
  const crops = asked.reduce((s, n) => s + (n ?? 0), 0);
  assert.ok(crops > 0 && crops <= 16, `${crops} crops over 31 frames of 2 people (every track every frame would be 55)`);
  assert.equal(tracker.appearanceStats.crops, crops);
});

test('a second frame fed while the tracker is still looking at the first is refused, not interleaved', async () => {
  const tracker = new Tracker({ appearance: { enabled: true, near: 10 } });
  await tracker.updateSeeing(0, frame(8), lookAt(8, []));
  let release: (() => void) | undefined;
  const slow: Look = (boxes) => new Promise((resolve) => {
    release = () => resolve(boxes.map(() => Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0])));
  });
  const pending = tracker.updateSeeing(FRAME_MS, frame(9), slow);
  assert.ok(release, 'the tracker asked for crops');
  assert.throws(() => tracker.update(2 * FRAME_MS, frame(10)), /fed before the previous one was finished/);
  release();
  await pending;
  assert.doesNotThrow(() => tracker.update(2 * FRAME_MS, frame(10)));
});

test('a look that fails leaves the frame to motion alone, counted, and the next frame looks again', async () => {
  const tracker = new Tracker({ appearance: { enabled: true } });
  await tracker.updateSeeing(0, frame(0), lookAt(0, []));
  const broken: Look = () => Promise.reject(new Error('onnxruntime: session released'));
  const out = await tracker.updateSeeing(FRAME_MS, frame(1), broken);
  assert.deepEqual(out.tracks.map((t) => t.id), [1, 2], 'both tracks matched on motion');
  assert.equal(tracker.appearanceStats.lookFailures, 1);
  assert.match(tracker.appearanceStats.lastLookError ?? '', /session released/);
  const asked: number[] = [];
  await tracker.updateSeeing(2 * FRAME_MS, frame(2), lookAt(2, asked));
  assert.equal(asked[2], 2, 'the first looks are taken at the next frame');
});
