import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UNIT_LEAD_MS } from '../../daemon/evidence/clip-recorder.js';
import { ClipRing } from '../../daemon/evidence/clip-ring.js';
import type { AccessUnit } from '../../daemon/video/access-unit.js';
import { tempDir } from '../helpers/shared.js';
import { accessUnitsOf, makeX264 } from './clip-fixtures.js';

/** The same units again, later: a camera that goes on (each repetition starts on its file's keyframe). */
function* repeated(units: readonly AccessUnit[], times: number, stepMs: number): Generator<AccessUnit> {
  for (let r = 0; r < times; r++) {
    for (const [i, u] of units.entries()) {
      const t = (r * units.length + i) * stepMs;
      yield { ...u, ptsMs: t, wallMs: 1_000_000 + t };
    }
  }
}

test('the ring starts on a keyframe, keeps one at least keepMs old, and holds little more than that', async (t) => {
  const units = await accessUnitsOf(await makeX264(await tempDir(t), { seconds: 6, fps: 10, keyInt: 10 }));
  const ring = new ClipRing({ keepMs: 5000, maxBytes: 64 * 1024 * 1024 });
  let maxSpan = 0;
  for (const au of repeated(units, 5, 100)) {
    ring.push(au);
    const { units: held } = ring.from(0);
    assert.ok(held[0]!.key, 'the ring starts on a keyframe');
    maxSpan = Math.max(maxSpan, ring.spanMs);
    if (au.wallMs - 1_000_000 >= 6000) {
      const slice = ring.from(au.wallMs - 5000);
      assert.ok(slice.reachesBack, 'a keyframe at or before now − keepMs is held');
      assert.ok(slice.units[0]!.wallMs > au.wallMs - 6000, 'from the newest keyframe that is old enough, not older');
    }
  }
  // keepMs plus at most one GOP (1 s) of slack, less one frame.
  assert.ok(maxSpan <= 5900, `span ${maxSpan} ms`);
});

test('over maxBytes whole GOPs go from the front, and a GOP larger than the cap leaves the ring empty until the next keyframe', async (t) => {
  const units = await accessUnitsOf(await makeX264(await tempDir(t), { seconds: 4, fps: 10, keyInt: 10, kbps: 800 }));
  const gop = units.slice(0, 10).reduce((n, u) => n + u.data.length, 0);
  const cap = Math.round(gop * 2.5);
  const ring = new ClipRing({ keepMs: 60_000, maxBytes: cap });
  for (const au of repeated(units, 3, 100)) {
    ring.push(au);
    assert.ok(ring.bytes <= cap, `${ring.bytes} > ${cap}`);
    if (ring.units > 0) assert.ok(ring.from(0).units[0]!.key);
  }
  assert.ok(ring.stats.gopsOverCap > 0);

  const tiny = new ClipRing({ keepMs: 60_000, maxBytes: Math.round(gop / 2) });
  for (const au of units.slice(0, 10)) tiny.push(au);
  assert.equal(tiny.units, 0, 'one GOP over the cap is not kept in part');
  assert.equal(tiny.from(0).units.length, 0);
  assert.ok(tiny.stats.unitsWithoutKey > 0);
});

test('units before the first keyframe are not kept, and a new epoch empties the ring', async (t) => {
  const units = await accessUnitsOf(await makeX264(await tempDir(t), { seconds: 3, fps: 10, keyInt: 10 }));
  const ring = new ClipRing({ keepMs: 5000, maxBytes: 1 << 26 });
  for (const au of units.slice(3)) ring.push(au);
  assert.equal(ring.units, 30 - 10, 'the units before the keyframe at 1 s are dropped');
  assert.equal(ring.stats.unitsWithoutKey, 7);
  ring.push({ ...units[0]!, epoch: 2 });
  assert.equal(ring.units, 1);
  assert.equal(ring.stats.epochResets, 1);
  assert.ok(ring.from(0).units.every((u) => u.epoch === 2), 'never two epochs in the ring');
});

test('ring memory of a 1080p stream at 4 Mbit/s with a 5 s pre-roll (measured on real x264 output)', { timeout: 240_000 }, async (t) => {
  const fps = 25;
  const file = await makeX264(await tempDir(t), { seconds: 12, fps, keyInt: fps, width: 1920, height: 1080, kbps: 4000, pattern: 'snow' });
  const units = (await accessUnitsOf(file)).map((au) => ({ ...au, wallMs: au.ptsMs + 1_000_000 }));
  const bytes = units.reduce((n, u) => n + u.data.length, 0);
  const mbit = (bytes * 8) / 12 / 1e6;
  // As the daemon sizes it for a 5 s pre-roll (plus the allowance for units ahead of the analysed frame), and the bare 5 s.
  for (const keepMs of [5000 + UNIT_LEAD_MS, 5000]) {
    const ring = new ClipRing({ keepMs, maxBytes: 16 * 1024 * 1024 });
    let peak = 0;
    const started = process.hrtime.bigint();
    for (const au of units) {
      ring.push(au);
      peak = Math.max(peak, ring.bytes);
    }
    const nsPerPush = Number(process.hrtime.bigint() - started) / units.length;
    t.diagnostic(`1080p x264 at ${mbit.toFixed(2)} Mbit/s, GOP 1 s, keep ${keepMs} ms: ring peak ${(peak / 1048576).toFixed(2)} MiB over ${ring.spanMs} ms; ${nsPerPush.toFixed(0)} ns per push`);
    // keepMs plus one GOP of slack at the measured rate, with 20 % for I-frame peaks.
    assert.ok(peak <= (((keepMs + 1000) / 1000) * mbit * 1e6 / 8) * 1.2, `peak ${peak} bytes`);
  }
  assert.ok(mbit > 2.5 && mbit < 5.5, `the encoder gave ${mbit} Mbit/s`);
});
