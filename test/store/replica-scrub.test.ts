import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { EvidenceScrub, type ScrubFinding } from '../../daemon/evidence/evidence-scrub.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { DATABASE_FILE } from '../../daemon/store/open.js';
import { Replicator } from '../../daemon/store/replica/replica.js';
import { stopBeforeTempDirsRemoved, tempDir, waitFor } from '../helpers/shared.js';
import { captureLogger } from '../uplink/harness.js';
import { newEvent, toOutbox } from './store-fixtures.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('the scrub finds tampered and missing evidence files and repairs them from the replica\'s copies; one without a good copy is refused', async (t) => {
  const dir = await tempDir(t);
  const card = path.join(dir, 'card');
  mkdirSync(card);
  const store = EventStore.open(dir, { recover: true });
  const replica = new Replicator({
    primaryFile: path.join(dir, DATABASE_FILE), storageDir: dir, log: captureLogger('warn').log,
    settings: { dir: card, interval_ms: 100, max_lag_ms: 1000, evidence: true },
    // 200 KiB a tick: each 512 KiB clip is copied over three ticks, resumed where the last one stopped.
    evidenceBytesPerTick: 200 * 1024,
  });
  stopBeforeTempDirsRemoved(t, async () => {
    await replica.stop(500);
    if (store.db.open) store.close();
  });
  replica.start();

  // Three events with a 512 KiB clip each: real files, their sha256 in evidence_files.
  const events = store.recordEvents([newEvent(1), newEvent(2), newEvent(3)], toOutbox);
  const files = events.map((e, i) => {
    const file = path.join(dir, 'evidence', 'gate', `${e.id}.mp4`);
    mkdirSync(path.dirname(file), { recursive: true });
    const bytes = Buffer.alloc(512 * 1024, i + 1);
    writeFileSync(file, bytes);
    assert.ok(store.addEvidenceFile({ eventId: e.id, kind: 'clip', path: file, bytes: bytes.length, sha256: sha(bytes), width: 64, height: 48, createdAt: Date.now() }));
    return { file, bytes, copy: path.join(card, 'evidence', 'gate', `${e.id}.mp4`) };
  });
  await waitFor('the three copies on the card', () => (replica.status().evidence.copied === 3 || undefined), 5000);
  for (const f of files) assert.deepEqual(readFileSync(f.copy), f.bytes);

  // One clip altered in place, one deleted, one altered with its copy altered too.
  const [a, b, c] = files as [typeof files[0], typeof files[0], typeof files[0]];
  const tampered = Buffer.from(a.bytes);
  tampered[1000] = 0xff;
  writeFileSync(a.file, tampered);
  unlinkSync(b.file);
  writeFileSync(c.file, Buffer.alloc(10, 7));
  writeFileSync(c.copy, Buffer.alloc(10, 7));

  const found: ScrubFinding[] = [];
  const log = captureLogger('info');
  const scrub = new EvidenceScrub({ store: () => store, storageDir: dir, replicaDir: card, log: log.log,
    settings: { bytesPerS: 4 * 1024 * 1024, everyMs: 3_600_000 }, onFinding: (f) => found.push(f) });
  const started = performance.now();
  const result = await scrub.pass();
  const ms = performance.now() - started;
  assert.equal(result.length, 3);
  assert.deepEqual(found.map((f) => [f.eventId, f.problem, f.repaired]), [
    [events[0]!.id, 'sha256_mismatch', true],
    [events[1]!.id, 'missing', true],
    [events[2]!.id, 'sha256_mismatch', false],
  ]);
  assert.deepEqual(readFileSync(a.file), a.bytes, 'repaired in place');
  assert.deepEqual(readFileSync(b.file), b.bytes, 'put back');
  assert.match(store.evidenceFile(events[2]!.id, 'clip')?.refused ?? '', /sha256_mismatch/, 'no good copy: refused, not sent');
  assert.equal(store.evidenceFile(events[0]!.id, 'clip')?.refused, null);
  assert.deepEqual({ ...scrub.stats, lastPassAt: null }, {
    running: false, passes: 1, files: 2, bytes: 1024 * 1024, mismatches: 2, missing: 1, repaired: 2, unrepaired: 1, lastPassAt: null,
  });
  assert.ok(log.lines.some((l) => l.level === 'error' && String(l.msg).includes('no good copy')), 'logged');
  // Rate-limited: 1.5 MiB of files and copies read at 4 MiB/s takes at least about 0.3 s.
  t.diagnostic(`scrub pass over 3 clips of 512 KiB (plus the repair reads) at 4 MiB/s: ${ms.toFixed(0)} ms`);
  assert.ok(ms >= 250, `rate-limited (${ms.toFixed(0)} ms)`);

  // A second pass finds nothing: the repaired files match, the refused one is not looked at again.
  assert.deepEqual(await scrub.pass(), []);
});
