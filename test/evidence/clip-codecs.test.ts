import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeClip } from '../../daemon/evidence/clip-writer.js';
import { silentLogger } from '../../daemon/log.js';
import type { AccessUnit } from '../../daemon/video/access-unit.js';
import { makeClip } from '../helpers/media.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { startStream, streamConfig } from '../video/fixtures.js';
import { decodeMp4 } from './clip-fixtures.js';

/**
 * The whole way without a helper of this test's own: the daemon's VideoStream hands out the access
 * units of an H.264 and an H.265 file (its access-unit branch), the clip writer muxes them, and
 * GStreamer decodes the result.
 */
for (const codec of ['h264', 'h265'] as const) {
  void test(`${codec}: the stream's own access units muxed into a clip that decodes frame for frame`, { timeout: 120_000 }, async (t) => {
    const dir = await tempDir(t);
    const file = await makeClip(dir, { codec, frames: 90, fps: 30, width: 320, height: 240 });
    const s = await startStream(t, streamConfig('cam', `file://${file}`, { fps: 120, realtime: false, loop: false }),
      { log: silentLogger(), accessUnits: true, analysis: { width: 160, height: 160, resize: 'fit', format: 'BGRx' } });
    const units: AccessUnit[] = [];
    s.onAccessUnit((au) => units.push(au));
    while ((await s.next()) !== null) { /* the file is paced by its consumer: take every frame */ }
    await waitFor('every access unit', () => (s.accessUnitStats()?.pulled === units.length && units.length === 90 ? true : undefined));
    assert.equal(units[0]!.track.codec, codec);
    assert.match(units[0]!.track.codecString, codec === 'h264' ? /^avc1\./ : /^(hvc1|hev1)\./);
    const w = await writeClip(dir, `clip-${codec}.mp4`, units);
    assert.equal(w.frames, 90);
    const d = await decodeMp4(w.path, codec);
    assert.equal(d.frames, 90);
    assert.ok(d.firstIsKey);
    assert.ok(Math.abs(d.durationS - 3) < 0.05, `duration ${d.durationS}`);
  });
}
