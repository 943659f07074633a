import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startMosquitto } from '../helpers/mosquitto.js';
import { roomZoneConfig } from '../helpers/room-clip.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { openDb, spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';
import { decodeMp4 } from './clip-fixtures.js';

interface ClipRow {
  event_id: string; path: string; bytes: number; sha256: string; width: number; height: number;
  duration_s: number; started_at: number; truncated: string | null; created_at: number;
}

interface EventRow { id: string; ts: number; payload: string }

/**
 * A real vigild on one-by-one-person-detection.mp4 at its own pace (10 fps): person 1 walks up to
 * the stand at about 7 s and leaves at about 19 s (see test/rules/dwell-video.test.ts), which a
 * zone rule reports as one enter…exit activity. Its clip must appear under <storage>/evidence,
 * recorded with its size and sha256, and play: pre-roll, the stay, post-roll. Stopping the daemon
 * while person 2 stands there writes that clip too, marked `stopped`.
 */
test('vigild: a zone activity on a real clip gets <storage>/evidence/<event id>.mp4 that decodes; stop writes the open one as stopped', { timeout: 150_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-clip-e2e-');
  const broker = await startMosquitto(t);
  const storage = path.join(dir, 'state');
  const config = await writeConfig(dir, { ...roomZoneConfig(storage, broker.url), log: { components: { evidence: 'debug' } } });
  const vigild = spawnDaemon(t, ['--config', config]);
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 60_000);
  const db = (): ReturnType<typeof openDb> => openDb(t, storage);

  const clip = await waitFor('the first clip recorded', () => {
    const d = db();
    try {
      return d.prepare("SELECT * FROM evidence_files WHERE kind = 'clip' ORDER BY created_at LIMIT 1").get() as ClipRow | undefined;
    } finally {
      d.close();
    }
  }, 90_000, 250).catch((err: unknown) => {
    throw new Error(`${String(err)}; vigild said: ${vigild.lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  const d = db();
  const event = d.prepare('SELECT id, ts, payload FROM events WHERE id = ?').get(clip.event_id) as EventRow;
  d.close();
  assert.ok(event, 'the clip belongs to a stored event');
  assert.equal(clip.path, path.join(storage, 'evidence', `${clip.event_id}.mp4`));
  assert.ok(existsSync(clip.path));
  assert.equal(clip.sha256, createHash('sha256').update(readFileSync(clip.path)).digest('hex'));
  assert.equal(clip.bytes, readFileSync(clip.path).length);
  assert.equal(clip.truncated, null);
  assert.deepEqual([clip.width, clip.height], [768, 432]);
  const payload = JSON.parse(event.payload) as { duration_s?: number; ended_at?: string };
  assert.ok(payload.duration_s !== undefined && payload.duration_s > 3, `the activity lasted ${payload.duration_s} s`);
  // The clip starts within 1 s before the pre-roll (this file has a keyframe every second or so).
  const lead = event.ts - clip.started_at;
  assert.ok(lead >= 3000 - 150 && lead <= 4000 + 150, `the clip starts ${lead} ms before the event`);
  // The pre-roll (3 s, up to a GOP more), the stay and the post-roll (2 s).
  const decoded = await decodeMp4(clip.path);
  assert.ok(decoded.firstIsKey);
  const want = lead / 1000 + payload.duration_s + 2;
  assert.ok(Math.abs(decoded.durationS - want) < 1, `decoded ${decoded.durationS} s, expected about ${want.toFixed(1)} s`);
  assert.ok(Math.abs(decoded.frames - decoded.durationS * 10) <= 3, `${decoded.frames} frames in ${decoded.durationS} s at 10 fps`);
  const leads = vigild.lines.filter((l) => l.msg === 'event clip started').map((l) => l['lead_ms']);
  t.diagnostic(`newest access unit ahead of the event's frame at the clip's start: ${leads.join(', ')} ms`);
  const endToDisk = clip.created_at - Date.parse(payload.ended_at ?? '');
  t.diagnostic(`activity end -> clip recorded: ${endToDisk} ms (post-roll 2000 ms included)`);
  assert.ok(endToDisk >= 2000 && endToDisk < 10_000, `${endToDisk} ms`);
  t.diagnostic(`clip ${clip.event_id}: ${decoded.frames} frames, ${decoded.durationS.toFixed(2)} s, ${clip.bytes} bytes; activity ${payload.duration_s} s`);

  // Person 2 walks in at about 23 s: stop while that clip is still recording.
  const second = await waitFor('a second activity', () => {
    const x = db();
    try {
      return x.prepare('SELECT id FROM events WHERE id != ? AND ts > ? ORDER BY ts LIMIT 1').get(clip.event_id, event.ts) as { id: string } | undefined;
    } finally {
      x.close();
    }
  }, 60_000, 250);
  const exit = await vigild.stop('SIGTERM', 15_000);
  assert.equal(exit.code, 0);
  const x = db();
  const stopped = x.prepare("SELECT * FROM evidence_files WHERE kind = 'clip' AND event_id = ?").get(second.id) as ClipRow | undefined;
  assert.ok(stopped, 'the clip in progress was written at stop');
  assert.equal(stopped.truncated, 'stopped');
  assert.ok((await decodeMp4(stopped.path)).frames > 0);
  assert.deepEqual(vigild.badLines, []);
});
