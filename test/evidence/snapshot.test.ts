import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import jpeg from 'jpeg-js';
import { connectAsync, type IPublishPacket } from 'mqtt';
import { evidenceSchema } from '../../daemon/config/schema.js';
import { drawBox, toRgba } from '../../daemon/evidence/draw.js';
import { EVIDENCE_PRIORITY, EvidenceService } from '../../daemon/evidence/evidence-service.js';
import { openJpegEncoder } from '../../daemon/evidence/choose-encoder.js';
import { silentLogger } from '../../daemon/log.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { alertOutbox, alertPayload } from '../../daemon/uplink/alert-message.js';
import { alertSchema } from '../../daemon/uplink/payloads.js';
import { evidenceOutbox } from '../../daemon/uplink/evidence-message.js';
import { createHash } from 'node:crypto';
import { Uplink } from '../../daemon/uplink/uplink.js';
import type { Frame } from '../../daemon/video/frame.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { newEvent } from '../store/store-fixtures.js';
import { mqttConfig, stateInfo } from '../uplink/harness.js';

const device = { id: 'box-1', site: 'depot' };

/** A 320×180 BGRx analysis frame of a 640×360 camera, one flat colour: blue 200, green 50, red 30. */
function flatFrame(): Frame {
  const width = 320;
  const height = 180;
  const data = Buffer.alloc(width * height * 4);
  for (let o = 0; o < data.length; o += 4) {
    data[o] = 200;
    data[o + 1] = 50;
    data[o + 2] = 30;
  }
  return { streamId: 'gate', seq: 1, ts: Date.now(), format: 'BGRx', width, height, data, sourceWidth: 640, sourceHeight: 360 };
}

const pixel = (img: { data: Uint8Array; width: number }, x: number, y: number): number[] => {
  const o = (y * img.width + x) * 4;
  return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!];
};
const near = (got: number[], want: number[], tolerance: number): boolean => got.every((v, i) => Math.abs(v - want[i]!) <= tolerance);

test('pixels: BGRx becomes RGB, and the box outline is drawn where the box is, clipped to the image', () => {
  const rgba = toRgba(Uint8Array.from([1, 2, 3, 0, 10, 20, 30, 0]), 2, 1, 'BGRx');
  assert.deepEqual([...rgba], [3, 2, 1, 255, 30, 20, 10, 255]);
  assert.deepEqual([...toRgba(Uint8Array.from([1, 2, 3, 0]), 1, 1, 'RGBA')], [1, 2, 3, 255]);
  const img = Buffer.alloc(10 * 10 * 4);
  drawBox(img, 10, 10, [2, 2, 7, 12], [255, 0, 0], 1);
  const red = (x: number, y: number): boolean => img[(y * 10 + x) * 4] === 255;
  assert.ok(red(2, 2) && red(7, 2) && red(2, 9) && red(7, 9), 'corners, the bottom clipped to the last row');
  assert.ok(!red(4, 4) && !red(1, 1) && !red(8, 5), 'nothing inside or outside the outline');
});

test('a snapshot is encoded by GStreamer, stored, queued on …/evidence with the event id, and named in the end message', async (t) => {
  const dir = await tempDir(t);
  const store = EventStore.open(dir);
  t.after(() => store.close());
  store.evidenceOutbox = evidenceOutbox(device, { publish: true });
  const event = store.recordEvent({ ...newEvent(1), payload: { objects: [{ label: 'person', score: 0.9, box: [100, 60, 300, 300] }], activity: 'enter' } },
    alertOutbox(device, { phase: 'start' }));
  const stored: string[] = [];
  const evidence = new EvidenceService({
    config: evidenceSchema.parse({}), storageDir: dir, device, store, log: silentLogger(), onStored: (id) => stored.push(id),
  });
  evidence.start();
  t.after(() => evidence.stop());

  const frame = flatFrame();
  evidence.capture(event.id, frame, [[100, 60, 300, 300]]);
  assert.equal(evidence.stats.captured, 1, 'taken at once, synchronously');
  // The frame was copied: the analysis loop may reuse its buffer at once.
  frame.data.fill(0);
  await waitFor('the snapshot stored', () => (stored.length === 1 ? true : undefined));
  assert.deepEqual(stored, [event.id]);
  assert.equal(evidence.stats.written, 1);
  assert.equal(evidence.stats.encoder, 'jpegenc', 'the daemon\'s default here: GStreamer\'s software encoder');

  const snap = store.snapshotOf(event.id);
  assert.ok(snap);
  assert.equal(snap.path, `${dir}/evidence/${event.id}.jpg`);
  const img = jpeg.decode(readFileSync(snap.path), { useTArray: true });
  assert.deepEqual([img.width, img.height, snap.width, snap.height], [320, 180, 320, 180]);
  // The camera's box [100,60,300,300] is [50,30,150,150] in the half-size frame; its outline is red.
  assert.ok(near(pixel(img, 100, 31), [255, 32, 32], 60), `top edge ${pixel(img, 100, 31).join(',')}`);
  assert.ok(near(pixel(img, 51, 90), [255, 32, 32], 60), `left edge ${pixel(img, 51, 90).join(',')}`);
  // Inside and outside, the frame as it was (BGRx 200,50,30 is RGB 30,50,200), not the zeros written after.
  assert.ok(near(pixel(img, 100, 90), [30, 50, 200], 12), `inside ${pixel(img, 100, 90).join(',')}`);
  assert.ok(near(pixel(img, 250, 160), [30, 50, 200], 12), `outside ${pixel(img, 250, 160).join(',')}`);

  const rows = store.peekOutbox(10);
  // The row names the file, whole, and carries none of its bytes.
  const jpegRow = rows.find((r) => r.file !== undefined);
  assert.ok(jpegRow?.file);
  assert.deepEqual([jpegRow.topic, jpegRow.eventId, jpegRow.priority, jpegRow.blob, jpegRow.payload], [`vigil/v1/depot/box-1/evidence`, event.id, EVIDENCE_PRIORITY, undefined, '']);
  const sha256 = createHash('sha256').update(readFileSync(snap.path)).digest('hex');
  assert.deepEqual(jpegRow.file, { kind: 'snapshot', path: snap.path, bytes: snap.bytes, sha256, offset: 0, length: snap.bytes, index: 0, count: 1 });

  // The activity's end names the snapshot.
  store.enqueueForEvent(event.id, alertOutbox(device, { phase: 'end', ts: event.ts + 5000 }), {
    merge: { ended_at: new Date(event.ts + 5000).toISOString(), duration_s: 5, end_reason: 'exit' },
  });
  const end = alertSchema.parse(alertPayload(device, store.getEvent(event.id)!, { phase: 'end' }));
  assert.deepEqual(end.snapshot, { ref: `${event.id}.jpg`, topic: 'vigil/v1/depot/box-1/evidence', bytes: snap.bytes, width: 320, height: 180 });
  assert.equal(alertPayload(device, store.getEvent(event.id)!, { phase: 'start' }).snapshot, undefined, 'only the end carries it');

  // Through a real broker: the JPEG arrives as is, with the event id and content type, after the alert.
  const broker = await startMosquitto(t);
  const hub = await connectAsync(broker.url, { protocolVersion: 5, clientId: 'hub' });
  t.after(() => hub.endAsync());
  const got: { topic: string; payload: Buffer; packet: IPublishPacket }[] = [];
  hub.on('message', (topic, payload, packet) => got.push({ topic, payload, packet }));
  await hub.subscribeAsync('vigil/v1/depot/box-1/+', { qos: 1 });
  const uplink = new Uplink({ config: mqttConfig(broker.url), device, outbox: store, log: silentLogger(), state: stateInfo });
  await uplink.start(new AbortController().signal);
  t.after(() => uplink.stop());
  await waitFor('the evidence message', () => got.find((m) => m.topic.endsWith('/evidence')));
  const msg = got.find((m) => m.topic.endsWith('/evidence'))!;
  assert.deepEqual(msg.payload, readFileSync(snap.path));
  assert.equal(msg.packet.properties?.userProperties?.['event_id'], event.id);
  assert.equal(msg.packet.properties?.contentType, 'image/jpeg');
  assert.equal(msg.packet.properties?.userProperties?.['sha256'], sha256);
  await waitFor('the snapshot recorded as delivered', () => (store.evidenceFile(event.id, 'snapshot')?.deliveredBytes === snap.bytes ? true : undefined));
  await waitFor('the outbox drained', () => (store.outboxStats().depth === 0 ? true : undefined));
  assert.ok(got.findIndex((m) => m.topic.endsWith('/alerts')) < got.indexOf(msg), 'the alert went before its evidence');
  assert.notEqual(store.getEvent(event.id)?.uplinkedAt, null);
});

test('snapshot files are pruned: the oldest beyond max_mb, and those whose event was evicted', async (t) => {
  const dir = await tempDir(t);
  const store = EventStore.open(dir, { budgetBytes: 160 * 1024, budgetCheckEvery: 1_000_000 });
  t.after(() => store.close());
  const frame = flatFrame();
  const encoder = await openJpegEncoder('auto');
  t.after(() => encoder.close());
  // The size of one snapshot: the frame with its box as the service draws it ([20,20,200,200] of
  // the 640×360 camera is [10,10,100,100] in the frame, 2 px of red).
  const boxed = new Uint8Array(frame.data);
  drawBox(boxed, 320, 180, [10, 10, 100, 100], [255, 32, 32], 2, 'BGRx');
  const size = (await encoder.encode({ ...frame, data: boxed }, 80)).length;
  // Room for one and a half snapshots.
  const evidence = new EvidenceService({
    config: evidenceSchema.parse({ max_mb: (1.5 * size) / (1024 * 1024), publish: false, min_interval_s: 0 }), storageDir: dir, device, store, log: silentLogger(), encoder,
  });
  store.onEvicted = () => evidence.prune(true);
  t.after(() => evidence.stop());
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const e = store.recordEvent(newEvent(i), alertOutbox(device));
    ids.push(e.id);
    evidence.capture(e.id, frame, [[20, 20, 200, 200]]);
    await evidence.idle();
  }
  assert.deepEqual(ids.map((id) => existsSync(`${dir}/evidence/${id}.jpg`)), [false, false, true], 'only the newest fits');
  assert.deepEqual(ids.map((id) => store.snapshotOf(id) !== null), [false, false, true]);
  assert.equal(evidence.stats.pruned, 2);

  // The newest event is delivered, then evicted to make room: its snapshot file goes with it.
  store.ackOutbox(store.peekOutbox(100).map((r) => r.seq));
  store.recordEvents(Array.from({ length: 400 }, (_, i) => newEvent(100 + i, 'info')));
  const run = store.enforceBudget();
  assert.ok(run && run.delivered >= 3, 'the delivered events were evicted');
  assert.equal(store.getEvent(ids[2]!), undefined);
  assert.equal(existsSync(`${dir}/evidence/${ids[2]!}.jpg`), false);
  assert.equal(store.snapshotOf(ids[2]!), null);
});

test('a rule firing on every frame gets one snapshot per min_interval_s, other rules their own', async (t) => {
  const dir = await tempDir(t);
  const store = EventStore.open(dir);
  t.after(() => store.close());
  const evidence = new EvidenceService({
    config: evidenceSchema.parse({ publish: false, min_interval_s: 60, encoder: 'js' }), storageDir: dir, device, store, log: silentLogger(),
  });
  t.after(() => evidence.stop());
  const frame = flatFrame();
  const ids = [1, 2, 3, 4].map((i) => store.recordEvent(newEvent(i)).id);
  evidence.capture(ids[0]!, frame, [[0, 0, 10, 10]], 'people');
  evidence.capture(ids[1]!, frame, [[0, 0, 10, 10]], 'people');
  evidence.capture(ids[2]!, frame, [[0, 0, 10, 10]], 'cars');
  evidence.capture(ids[3]!, { ...frame, streamId: 'yard' }, [[0, 0, 10, 10]], 'people');
  await evidence.idle();
  assert.deepEqual(ids.map((id) => store.snapshotOf(id) !== null), [true, false, true, true]);
  assert.deepEqual([evidence.stats.written, evidence.stats.skipped], [3, 1]);
});
