import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import type { TestAlertReport } from '../../cli/commands/test-alert.js';
import type { EvidenceFileDetail } from '../../daemon/evidence/evidence-detail.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { EVIDENCE_CHUNK_BYTES, evidenceOutbox } from '../../daemon/uplink/evidence-message.js';
import { EVIDENCE_PARTS_IN_FLIGHT } from '../../daemon/uplink/outbox-drainer.js';
import { evidenceHeaderSchema } from '../../daemon/uplink/payloads.js';
import { startReceiver } from '../evidence/receiver-process.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { vigilctl } from '../helpers/vigilctl.js';
import { openDb, spawnDaemon, writeConfig } from './daemon-harness.js';

const device = { id: 'cam-9', site: 'yard' };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

void test('vigild SIGKILLed mid-transfer (and the receiver too): after restarts the clip arrives whole, acknowledged parts once; events show and export', { timeout: 360_000 }, async (t) => {
  const dir = await tempDir(t);
  const state = path.join(dir, 'state');
  const socket = path.join(dir, 'vigild.sock');
  const out = path.join(dir, 'received');
  const broker = await startMosquitto(t);
  // The device's link at 512 KiB/s: the 3 MiB clip takes seconds, long enough to kill vigild in it.
  const proxy = await startTcpProxy(t, broker.port);
  proxy.setRate(512 * 1024);
  const config = await writeConfig(dir, {
    device, storage: { dir: state }, mqtt: { url: proxy.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 }, streams: [],
    telemetry: { prometheus: { enabled: false } },
  });
  const env = { VIGIL_SOCKET: socket };
  let vigild = spawnDaemon(t, ['--config', config], env);
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 30_000);
  const alert = await vigilctl(['test-alert', '--socket', socket, '--timeout', '1', '--json']);
  const eventId = (JSON.parse(alert.out) as TestAlertReport).event_id;
  await vigild.stop('SIGTERM', 15_000);

  // A clip for the event, recorded as the clip recorder records one (the store's addEvidenceFile).
  const clip = randomBytes(3 * 1024 * 1024 + 1234);
  const clipFile = path.join(state, 'evidence', `${eventId}.mp4`);
  mkdirSync(path.dirname(clipFile), { recursive: true });
  writeFileSync(clipFile, clip);
  {
    const store = EventStore.open(state);
    store.evidenceOutbox = evidenceOutbox(device, { publish: true });
    assert.ok(store.addEvidenceFile({ eventId, kind: 'clip', path: clipFile, bytes: clip.length, sha256: sha(clip), width: 1280, height: 720,
      durationS: 15, startedAt: Date.now() - 15_000, truncated: 'stopped', createdAt: Date.now() }));
    store.close();
  }
  const count = Math.ceil(clip.length / EVIDENCE_CHUNK_BYTES);

  const counter = await connectAsync(broker.url, { protocolVersion: 5, clientId: 'counter' });
  t.after(() => counter.endAsync());
  const parts = new Map<number, number>();
  counter.on('message', (_topic, payload) => {
    const h = evidenceHeaderSchema.parse(JSON.parse(payload.subarray(0, payload.indexOf(0x0a)).toString()));
    parts.set(h.index, (parts.get(h.index) ?? 0) + 1);
  });
  await counter.subscribeAsync(`vigil/v1/${device.site}/+/evidence/chunk`, { qos: 1 });
  let receiver = await startReceiver(t, { hub: broker.url, site: device.site, out });

  vigild = spawnDaemon(t, ['--config', config], env);
  await waitFor('a third of the parts at the broker', () => (parts.size >= count / 3 ? true : undefined), 60_000, 5);
  await vigild.stop('SIGKILL');
  // The receiver is killed too, with a partial file on disk.
  await receiver.stop('SIGKILL');
  const db = openDb(t, state);
  const pending = new Set((db.prepare("SELECT evidence_index FROM outbox WHERE evidence_kind = 'clip'").pluck().all() as number[]));
  db.close();
  const acked = Array.from({ length: count }, (_, i) => i).filter((i) => !pending.has(i));
  assert.ok(acked.length > 0 && acked.length < count, `${acked.length} of ${count} acknowledged at the kill`);

  receiver = await startReceiver(t, { hub: broker.url, site: device.site, out });
  assert.match(receiver.stderr(), new RegExp(`resuming ${device.id}/${eventId}: \\d+ of ${count} parts on disk`));
  proxy.setRate(null);
  vigild = spawnDaemon(t, ['--config', config], env);
  const got = await receiver.file(eventId, 'clip', 120_000).catch((e: unknown) => {
    throw new Error(`${String(e)}; parts at the broker ${parts.size}/${count}; vigild: ${vigild.lines.slice(-12).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  assert.deepEqual([got.ok, got.sha256, got.bytes], [true, sha(clip), clip.length]);
  assert.deepEqual(readFileSync(path.join(out, device.id, `${eventId}.mp4`)), clip, 'byte-identical');
  for (const i of acked) assert.equal(parts.get(i), 1, `part ${i}, acknowledged before the kill, reached the broker once`);
  const resent = [...parts.values()].reduce((a, b) => a + b, 0) - count;
  t.diagnostic(`SIGKILL at ${acked.length}/${count} parts acknowledged; sent again: ${resent}`);
  assert.ok(resent <= EVIDENCE_PARTS_IN_FLIGHT, `only parts in flight at the kill were sent again: ${resent}`);

  // vigilctl events show: where the clip is, what it is, that the hub has it, that it is intact.
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 30_000);
  await waitFor('the clip recorded as delivered', async () => {
    const r = await vigilctl(['events', 'show', eventId, '--socket', socket, '--json']);
    const ev = (JSON.parse(r.out) as { evidence: EvidenceFileDetail[] }).evidence;
    return ev[0]?.delivered ? ev : undefined;
  }, 30_000, 100);
  const shown = await vigilctl(['events', 'show', eventId, '--socket', socket, '--json']);
  assert.equal(shown.code, 0, shown.err);
  const detail = JSON.parse(shown.out) as { evidence: EvidenceFileDetail[]; clip: { path: string; duration_s: number } | null };
  assert.deepEqual(detail.evidence.map((f) => [f.kind, f.path, f.bytes, f.sha256, f.width, f.height, f.duration_s, f.truncated, f.delivered, f.integrity]),
    [['clip', clipFile, clip.length, sha(clip), 1280, 720, 15, 'stopped', true, 'ok']]);
  assert.equal(detail.clip?.path, clipFile);
  const human = await vigilctl(['events', 'show', eventId, '--socket', socket]);
  assert.match(human.out, new RegExp(`clip: ${clipFile.replace(/[.]/g, '\\.')} \\(1280x720, 15\\.0 s, ${clip.length} bytes, sha256 ${sha(clip)}, truncated: stopped, delivered, sha256 ok\\)`));
  assert.match(human.out, /snapshot: -/);

  // vigilctl events export copies it, checked.
  const exportDir = path.join(dir, 'export');
  const exported = await vigilctl(['events', 'export', eventId, '--out', exportDir, '--socket', socket, '--json']);
  assert.equal(exported.code, 0, exported.err);
  assert.deepEqual(readFileSync(path.join(exportDir, `${eventId}.mp4`)), clip);
  // A file changed on disk is not exported (and is reported, as before sending).
  const tampered = Buffer.from(clip);
  tampered[10] = (tampered[10]! + 1) % 256;
  writeFileSync(clipFile, tampered);
  const refused = await vigilctl(['events', 'export', eventId, '--out', path.join(dir, 'export2'), '--socket', socket]);
  assert.equal(refused.code, 1, refused.out);
  assert.match(refused.err, /does not match the recorded/);
  const after = await vigilctl(['events', 'show', eventId, '--socket', socket]);
  assert.match(after.out, /INTEGRITY sha256_mismatch/);
  const list = await vigilctl(['events', 'list', '--socket', socket, '--json']);
  const notices = (JSON.parse(list.out) as { kind: string; payload: { storage?: { kind: string; event_id?: string } } }[])
    .filter((e) => e.kind === 'storage' && e.payload.storage?.kind === 'evidence_refused');
  assert.deepEqual(notices.map((e) => e.payload.storage?.event_id), [eventId], 'reported once');
});
