import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startReceiver } from '../evidence/receiver-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { roomZoneConfig } from '../helpers/room-clip.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { openDb, spawnDaemon, writeConfig } from './daemon-harness.js';

interface FileRow { event_id: string; kind: string; path: string; bytes: number; sha256: string; created_at: number; delivered_bytes: number }

/**
 * The whole path with a real vigild on a real video: a zone activity gets a snapshot and a clip
 * (the evidence service and the clip recorder), both reach `vigilctl hub evidence` through the
 * broker byte-identical, and the time from the event's frame to the clip on disk and at the hub is
 * measured.
 */
test('vigild → broker → vigilctl hub evidence: an activity\'s snapshot and clip arrive byte-identical; event-to-hub time', { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-evidence-hub-');
  const broker = await startMosquitto(t);
  const storage = path.join(dir, 'state');
  const out = path.join(dir, 'hub');
  const receiver = await startReceiver(t, { hub: broker.url, site: 'lab', out });
  const config = await writeConfig(dir, roomZoneConfig(storage, broker.url));
  const vigild = spawnDaemon(t, ['--config', config]);
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 60_000);
  const rows = (): FileRow[] => {
    const d = openDb(t, storage);
    try {
      return d.prepare('SELECT event_id, kind, path, bytes, sha256, created_at, delivered_bytes FROM evidence_files ORDER BY created_at').all() as FileRow[];
    } finally {
      d.close();
    }
  };
  const clip = await waitFor('the first clip recorded', () => rows().find((r) => r.kind === 'clip'), 120_000, 250);
  const got = await receiver.file(clip.event_id, 'clip', 60_000);
  assert.equal(got.sha256, clip.sha256);
  assert.deepEqual(readFileSync(path.join(out, 'room-1', `${clip.event_id}.mp4`)), readFileSync(clip.path), 'the clip, byte-identical');
  const snap = rows().find((r) => r.kind === 'snapshot' && r.event_id === clip.event_id);
  assert.ok(snap, 'the activity has a snapshot too');
  const gotSnap = await receiver.file(clip.event_id, 'snapshot', 30_000);
  assert.equal(gotSnap.sha256, snap.sha256);
  assert.deepEqual(readFileSync(path.join(out, 'room-1', `${clip.event_id}.jpg`)), readFileSync(snap.path), 'the snapshot, byte-identical');
  await waitFor('delivered recorded', () => (rows().find((r) => r.kind === 'clip' && r.event_id === clip.event_id)?.delivered_bytes === clip.bytes ? true : undefined), 20_000, 100);
  const d = openDb(t, storage);
  const event = d.prepare('SELECT ts, json_extract(payload, \'$.ended_at\') AS ended FROM events WHERE id = ?').get(clip.event_id) as { ts: number; ended: string | null };
  d.close();
  const end = event.ended !== null ? Date.parse(event.ended) : event.ts;
  t.diagnostic(`clip ${clip.bytes} bytes: on disk ${clip.created_at - end} ms after the activity ended (post-roll 2 s included), ` +
    `whole at the hub ${got.at - clip.created_at} ms after it was on disk; snapshot ${snap.bytes} bytes at the hub ${gotSnap.at - event.ts} ms after the event's frame`);
});
