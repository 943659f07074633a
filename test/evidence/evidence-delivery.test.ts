import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { connectAsync, type MqttClient } from 'mqtt';
import { evidenceSchema } from '../../daemon/config/schema.js';
import type { EvidenceFile } from '../../daemon/evidence/evidence-files.js';
import { EvidenceService } from '../../daemon/evidence/evidence-service.js';
import { silentLogger } from '../../daemon/log.js';
import { EventReviews } from '../../daemon/tiers/event-reviews.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { EVIDENCE_CHUNK_BYTES, evidenceOutbox } from '../../daemon/uplink/evidence-message.js';
import { EVIDENCE_PARTS_IN_FLIGHT } from '../../daemon/uplink/outbox-drainer.js';
import { evidenceHeaderSchema, storageMessageSchema } from '../../daemon/uplink/payloads.js';
import { storageOutbox } from '../../daemon/uplink/storage-message.js';
import { Uplink } from '../../daemon/uplink/uplink.js';
import type { Frame } from '../../daemon/video/frame.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { newEvent } from '../store/store-fixtures.js';
import { mqttConfig, stateInfo } from '../uplink/harness.js';
import { startReceiver } from './receiver-process.js';

const device = { id: 'box-1', site: 'depot' };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function openStore(t: { after(fn: () => void): void }, dir: string): EventStore {
  const store = EventStore.open(dir, { notices: storageOutbox(device) });
  store.evidenceOutbox = evidenceOutbox(device, { publish: true });
  t.after(() => store.close());
  return store;
}

/** A synthetic clip of `bytes` random bytes for `eventId`, recorded as a clip producer would (addEvidenceFile). */
function recordClip(store: EventStore, dir: string, eventId: string, bytes: number): { file: EvidenceFile; data: Buffer } {
  const data = randomBytes(bytes);
  const file = path.join(dir, 'evidence', `${eventId}.mp4`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
  const ev: EvidenceFile = {
    eventId, kind: 'clip', path: file, bytes, sha256: sha(data), width: 1920, height: 1080, durationS: 12.5,
    startedAt: Date.now() - 12_500, createdAt: Date.now(),
  };
  assert.equal(store.addEvidenceFile(ev), true);
  return { file: ev, data };
}

async function startUplink(t: { after(fn: () => Promise<void>): void }, store: EventStore, url: string): Promise<Uplink> {
  const uplink = new Uplink({ config: mqttConfig(url), device, outbox: store, log: silentLogger(), state: stateInfo });
  await uplink.start(new AbortController().signal);
  t.after(() => uplink.stop());
  return uplink;
}

/** Counts what reaches the broker: parts per file and index, and every other message by topic leaf. */
async function brokerCounter(t: { after(fn: () => Promise<void>): void }, url: string): Promise<{
  client: MqttClient; parts: Map<string, number>; arrivals: { topic: string; at: number; index?: number; payload: Buffer }[];
}> {
  const client = await connectAsync(url, { protocolVersion: 5, clientId: `counter-${Math.random().toString(36).slice(2)}` });
  t.after(() => client.endAsync());
  const parts = new Map<string, number>();
  const arrivals: { topic: string; at: number; index?: number; payload: Buffer }[] = [];
  client.on('message', (topic, payload) => {
    const at = performance.now();
    if (topic.endsWith('/evidence/chunk')) {
      const header = evidenceHeaderSchema.parse(JSON.parse(payload.subarray(0, payload.indexOf(0x0a)).toString()));
      const key = `${header.event_id}/${header.index}`;
      parts.set(key, (parts.get(key) ?? 0) + 1);
      arrivals.push({ topic, at, index: header.index, payload });
    } else {
      arrivals.push({ topic, at, payload });
    }
  });
  await client.subscribeAsync(`vigil/v1/${device.site}/${device.id}/#`, { qos: 1 });
  return { client, parts, arrivals };
}

/** A 320×180 flat BGRx frame, for a real snapshot through the evidence service. */
function flatFrame(): Frame {
  const data = Buffer.alloc(320 * 180 * 4, 90);
  return { streamId: 'gate', seq: 1, ts: Date.now(), format: 'BGRx', width: 320, height: 180, data, sourceWidth: 320, sourceHeight: 180 };
}

test('a snapshot and a clip reach vigilctl hub evidence byte-identical, after the alert; the outbox holds references, not bytes', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'received');
  const broker = await startMosquitto(t);
  const receiver = await startReceiver(t, { hub: broker.url, site: device.site, out });
  const counter = await brokerCounter(t, broker.url);
  const store = openStore(t, dir);
  const event = store.recordEvent(newEvent(1, 'alert'), alertOutbox(device));
  const evidence = new EvidenceService({ config: evidenceSchema.parse({ encoder: 'js' }), storageDir: dir, device, store, log: silentLogger() });
  t.after(() => evidence.stop());
  evidence.capture(event.id, flatFrame(), [[10, 10, 100, 100]]);
  await evidence.idle();
  const snap = store.evidenceFile(event.id, 'snapshot');
  assert.ok(snap && snap.sha256 === sha(readFileSync(snap.path)), 'the snapshot is recorded with its sha256');
  const clip = recordClip(store, dir, event.id, 300 * 1024 + 17);

  // Rows name files; the database holds no byte of them.
  const rows = store.peekOutbox(100);
  const clipRows = rows.filter((r) => r.file?.kind === 'clip');
  assert.equal(clipRows.length, Math.ceil(clip.file.bytes / EVIDENCE_CHUNK_BYTES));
  assert.ok(rows.every((r) => r.blob === undefined));
  assert.deepEqual(rows.map((r) => r.topic.split('/').slice(4).join('/')), ['alerts', 'evidence', ...clipRows.map(() => 'evidence/chunk')]);

  await startUplink(t, store, broker.url);
  const gotSnap = await receiver.file(event.id, 'snapshot');
  const gotClip = await receiver.file(event.id, 'clip');
  assert.deepEqual(readFileSync(path.join(out, device.id, `${event.id}.jpg`)), readFileSync(snap.path));
  assert.deepEqual(readFileSync(path.join(out, device.id, `${event.id}.mp4`)), clip.data);
  assert.deepEqual([gotSnap.ok, gotSnap.sha256, gotClip.ok, gotClip.sha256, gotClip.bytes], [true, snap.sha256, true, clip.file.sha256, clip.file.bytes]);
  await waitFor('the outbox drained', () => (store.outboxStats().depth === 0 ? true : undefined));
  assert.equal(store.evidenceFile(event.id, 'clip')?.deliveredBytes, clip.file.bytes, 'every byte acknowledged');
  assert.equal(store.evidenceFile(event.id, 'snapshot')?.deliveredBytes, snap.bytes);
  assert.equal(store.getEvent(event.id)?.uplinkedAt !== null, true, 'the alert itself was acknowledged');
  // The alert left first, then its evidence.
  await waitFor('the counter saw everything', () => (counter.arrivals.filter((a) => a.topic.endsWith('/chunk')).length >= clipRows.length ? true : undefined));
  const leaves = counter.arrivals.map((a) => a.topic.split('/').slice(4).join('/')).filter((l) => l !== 'state');
  assert.equal(leaves[0], 'alerts', leaves.join(','));
});

test('a 10 MB clip: transfer time, rows per MB, and an alert recorded mid-transfer overtakes the rest of the clip', { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'received');
  const broker = await startMosquitto(t);
  const receiver = await startReceiver(t, { hub: broker.url, site: device.site, out });
  const counter = await brokerCounter(t, broker.url);
  const store = openStore(t, dir);
  await startUplink(t, store, broker.url);

  // Baseline: an alert's latency to a subscriber with nothing else queued.
  const idleLatency: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    const from = counter.arrivals.length;
    const sent = performance.now();
    store.recordEvent(newEvent(100 + i, 'alert'), alertOutbox(device));
    const got = await waitFor('the idle alert', () => counter.arrivals.slice(from).find((a) => a.topic.endsWith('/alerts')), 10_000, 1);
    idleLatency.push(got.at - sent);
  }

  const event = store.recordEvent(newEvent(1, 'warning'), alertOutbox(device));
  const depthBefore = store.outboxStats().depth;
  const started = performance.now();
  const clip = recordClip(store, dir, event.id, 10 * 1024 * 1024);
  const rows = store.outboxStats().depth - depthBefore;
  // Mid-transfer: once a tenth of the parts reached the broker, an alert is recorded.
  const count = Math.ceil(clip.file.bytes / EVIDENCE_CHUNK_BYTES);
  await waitFor('a tenth of the parts at the broker', () => (counter.arrivals.filter((a) => a.index !== undefined).length >= count / 10 ? true : undefined), 30_000, 1);
  const alertSent = performance.now();
  const alert = store.recordEvent(newEvent(2, 'alert'), alertOutbox(device));
  const alertArrival = await waitFor('the mid-transfer alert', () => counter.arrivals.find((a) => a.topic.endsWith('/alerts') && a.payload.includes(alert.id)), 10_000, 1);
  const got = await receiver.file(event.id, 'clip', 120_000);
  const transferMs = performance.now() - started;
  assert.ok(got.ok);
  assert.deepEqual(readFileSync(path.join(out, device.id, `${event.id}.mp4`)), clip.data);
  const partsAfterAlert = counter.arrivals.filter((a) => a.index !== undefined && a.at > alertArrival.at).length;
  const alertMs = alertArrival.at - alertSent;
  t.diagnostic(`10 MiB clip: ${transferMs.toFixed(0)} ms to the receiver over loopback (${(10 / (transferMs / 1000)).toFixed(1)} MiB/s); ` +
    `${rows} outbox rows (${(rows / 10).toFixed(1)} per MiB); alert mid-transfer ${alertMs.toFixed(1)} ms (idle: ${idleLatency.map((v) => v.toFixed(1)).join(', ')} ms), ` +
    `${partsAfterAlert} of ${count} parts reached the broker after it`);
  assert.equal(rows, count, 'one row per part, none for bytes');
  assert.ok(partsAfterAlert > 0, 'the alert did not wait for the clip');
  assert.ok(alertMs < 1000, `alert latency while a clip is sending: ${alertMs} ms`);
});

test('a broker outage mid-transfer: parts the broker acknowledged are never sent again, the rest follow after the outage', { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'received');
  const broker = await startMosquitto(t);
  const proxy = await startTcpProxy(t, broker.port);
  // About 1 MiB/s from the device: the 3 MiB clip takes seconds, so the cut falls in the middle.
  proxy.setRate(1024 * 1024);
  const receiver = await startReceiver(t, { hub: broker.url, site: device.site, out });
  const counter = await brokerCounter(t, broker.url);
  const store = openStore(t, dir);
  const event = store.recordEvent(newEvent(1, 'warning'), alertOutbox(device));
  const clip = recordClip(store, dir, event.id, 3 * 1024 * 1024 + 5);
  const count = Math.ceil(clip.file.bytes / EVIDENCE_CHUNK_BYTES);
  const uplink = await startUplink(t, store, proxy.url);
  const partsAtBroker = (): number => [...counter.parts.values()].reduce((a, b) => a + b, 0);
  await waitFor('a third of the parts at the broker', () => (partsAtBroker() >= count / 3 ? true : undefined), 60_000, 5);
  proxy.cut();
  await waitFor('the uplink noticed the outage', () => (!uplink.status().connected ? true : undefined), 20_000);
  // What the device holds as acknowledged: the parts whose rows are gone.
  const pending = new Set(store.peekOutbox(1000).filter((r) => r.file).map((r) => r.file!.index));
  const acked = Array.from({ length: count }, (_, i) => i).filter((i) => !pending.has(i));
  const delivered = store.evidenceFile(event.id, 'clip')?.deliveredBytes ?? 0;
  assert.ok(acked.length > 0 && acked.length < count, `acked ${acked.length} of ${count} at the cut`);
  assert.equal(delivered, acked.reduce((n, i) => n + Math.min(EVIDENCE_CHUNK_BYTES, clip.file.bytes - i * EVIDENCE_CHUNK_BYTES), 0), 'delivered bytes = acknowledged parts');

  proxy.setRate(null);
  proxy.resume();
  const got = await receiver.file(event.id, 'clip', 60_000);
  assert.ok(got.ok);
  assert.deepEqual(readFileSync(path.join(out, device.id, `${event.id}.mp4`)), clip.data);
  await waitFor('the outbox drained', () => (store.outboxStats().depth === 0 ? true : undefined), 20_000);
  for (const i of acked) assert.equal(counter.parts.get(`${event.id}/${i}`), 1, `part ${i}, acknowledged before the outage, reached the broker once`);
  const resent = [...counter.parts.values()].reduce((a, b) => a + b, 0) - count;
  t.diagnostic(`outage at ${acked.length}/${count} parts acknowledged; parts sent twice: ${resent} (in flight at the cut)`);
  assert.ok(resent <= EVIDENCE_PARTS_IN_FLIGHT, `at most the parts in flight at the cut were sent again: ${resent}`);
  assert.equal(store.evidenceFile(event.id, 'clip')?.deliveredBytes, clip.file.bytes);
});

test('a file changed on disk after it was recorded is refused: not sent, reported on …/storage, shown by events show', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const counter = await brokerCounter(t, broker.url);
  const store = openStore(t, dir);
  const event = store.recordEvent(newEvent(1, 'alert'), alertOutbox(device));
  const clip = recordClip(store, dir, event.id, 200 * 1024);
  const good = store.recordEvent(newEvent(2, 'alert'), alertOutbox(device));
  const goodClip = recordClip(store, dir, good.id, 100 * 1024);
  // One byte flipped in the middle: same size, other bytes.
  const tampered = Buffer.from(clip.data);
  tampered[100_000] = (tampered[100_000]! + 1) % 256;
  writeFileSync(clip.file.path, tampered);

  const uplink = await startUplink(t, store, broker.url);
  const storageMsg = await waitFor('the refusal on …/storage', () => counter.arrivals.find((a) => a.topic.endsWith('/storage')), 20_000);
  const notice = storageMessageSchema.parse(JSON.parse(storageMsg.payload.toString()));
  assert.equal(notice.kind, 'evidence_refused');
  if (notice.kind !== 'evidence_refused') return;
  assert.deepEqual([notice.event_id, notice.file_kind, notice.reason, notice.expected_sha256, notice.actual_sha256, notice.severity],
    [event.id, 'clip', 'sha256_mismatch', clip.file.sha256, sha(tampered), 'warning']);
  await waitFor('the outbox drained', () => (store.outboxStats().depth === 0 ? true : undefined), 20_000);
  assert.equal([...counter.parts.keys()].filter((k) => k.startsWith(event.id)).length, 0, 'no part of the tampered file reached the broker');
  assert.equal([...counter.parts.keys()].filter((k) => k.startsWith(good.id)).length, Math.ceil(goodClip.file.bytes / EVIDENCE_CHUNK_BYTES), 'the other file went');
  assert.equal(store.evidenceFile(event.id, 'clip')?.refused, 'sha256_mismatch');
  assert.equal(uplink.status().evidenceRefused, 1);
  // events show checks again, for this answer: the same verdict, and no second report.
  const shown = new EventReviews(() => store).show(event.id).evidence;
  assert.deepEqual(shown.map((f) => [f.kind, f.integrity, f.actual_sha256, f.refused, f.delivered]), [['clip', 'sha256_mismatch', sha(tampered), 'sha256_mismatch', false]]);
  assert.deepEqual(new EventReviews(() => store).show(good.id).evidence.map((f) => [f.integrity, f.delivered]), [['ok', true]]);
  assert.equal(store.listEvents({ limit: 100 }).filter((e) => e.kind === 'storage').length, 1);
});
