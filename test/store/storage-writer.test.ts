import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { EventStore } from '../../daemon/store/event-store.js';
import { DATABASE_FILE } from '../../daemon/store/open.js';
import { mergePatch, StoreWriter, type DirectPublisher } from '../../daemon/store/store-writer.js';
import type { StorageHealth, StoredEvent } from '../../daemon/store/types.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { alertSchema, storageMessageSchema } from '../../daemon/uplink/payloads.js';
import type { Uplink } from '../../daemon/uplink/uplink.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { alertEvent, captureLogger, device, mqttConfig, startUplink, subscribe } from '../uplink/harness.js';
import { fillDisk, loopExt4 } from './storage-fs.js';

interface Harness {
  store: EventStore;
  writer: StoreWriter;
  accepted: { event: StoredEvent; durable: boolean }[];
  states: StorageHealth[];
  record(i: number, severity?: StoredEvent['severity'], opens?: boolean): StoredEvent;
}

function harness(t: TestContext, dir: string, publisher: () => DirectPublisher | null, maxHeld = 10_000, onDurable = (): void => undefined): Harness {
  const store = EventStore.open(dir, { recover: true });
  const states: StorageHealth[] = [];
  const writer = new StoreWriter({
    file: path.join(dir, DATABASE_FILE), store, device, log: captureLogger('info').log, publisher, maxHeld,
    retryMinMs: 100, retryMaxMs: 500, onStateChange: (h) => states.push(h),
  });
  t.after(async () => {
    await writer.close(200);
    store.close();
  });
  const accepted: Harness['accepted'] = [];
  return {
    store, writer, accepted, states,
    record: (i, severity = 'alert', opens = false) => writer.record(alertEvent(i, { severity }), alertOutbox(device),
      (event, durable) => {
        accepted.push({ event, durable });
        if (durable) onDurable();
      }, { opens }),
  };
}

const outboxRows = (store: EventStore, id: string): number =>
  store.db.prepare('SELECT count(*) FROM outbox WHERE event_id = ?').pluck().get(id) as number;

test('events commit in order on the writer thread; follow-ups patch as json_patch does; the main connection never checkpoints', async (t) => {
  const h = harness(t, await tempDir(t), () => null);
  assert.equal(h.store.db.pragma('wal_autocheckpoint', { simple: true }), 0, 'checkpoints (fsync) belong to the writer thread');
  const a = h.record(1, 'alert', true);
  const b = h.record(2, 'info');
  assert.equal(h.store.getEvent(a.id), undefined, 'record returns before the commit');
  assert.ok(h.writer.followUp(a.id, alertOutbox(device), {
    merge: { ended_at: new Date(a.ts + 5000).toISOString(), duration_s: 5, end_reason: 'exit' }, supersede: ['update'], last: true,
  }, () => undefined));
  await waitFor('both events committed', () => (h.accepted.length === 2 ? true : undefined));
  assert.deepEqual(h.accepted.map((x) => [x.event.id, x.durable]), [[a.id, true], [b.id, true]]);
  await waitFor('the end committed', () => (outboxRows(h.store, a.id) === 2 ? true : undefined));
  const stored = h.store.getEvent(a.id);
  assert.equal(stored?.payload['duration_s'], 5);
  const rows = h.store.peekOutbox(10).filter((r) => r.eventId === a.id).map((r) => alertSchema.parse(JSON.parse(r.payload)));
  assert.deepEqual(rows.map((r) => r.id), [a.id, a.id], 'the start and the end, in order');
  assert.equal(h.writer.health().state, 'ok');
  assert.ok((h.writer.health().lastCommitMs ?? -1) >= 0);
  assert.deepEqual(mergePatch({ a: 1, f: { x: 1, y: 2 } }, { f: { y: null, z: 3 }, b: 2 }), { a: 1, f: { x: 1, z: 3 }, b: 2 });
});

test('a full disk: alerts go to the hub directly (stored: false) with an alarm; once there is room they are written without a second copy', async (t) => {
  const fs = await loopExt4(t, 16);
  const broker = await startMosquitto(t);
  const hub = await subscribe(t, broker.url, `vigil/v1/${device.site}/${device.id}/+`);
  let uplink: Uplink | null = null;
  const h = harness(t, fs.dir, () => uplink, 10_000, () => uplink?.notify());
  uplink = startUplink(t, { config: mqttConfig(broker.url), outbox: h.store });
  await waitFor('the uplink to connect', () => uplink?.status().connected || undefined);

  const ballast = fillDisk(fs.dir);
  const made = Array.from({ length: 20 }, (_, i) => h.record(i, i % 4 === 0 ? 'critical' : 'alert'));
  const degraded = await waitFor('degraded mode', () => (h.writer.health().state === 'degraded' ? h.writer.health() : undefined));
  assert.match(degraded.code ?? '', /SQLITE_FULL|SQLITE_IOERR/);
  assert.match(degraded.reason ?? '', /full|I\/O/);
  // What fitted in blocks the WAL already had may still commit; the rest is held.
  await waitFor('every event accepted', () => (h.accepted.length === 20 ? true : undefined));
  const held = h.accepted.filter((a) => !a.durable).map((a) => a.event.id);
  assert.equal(new Set(h.accepted.map((a) => a.event.id)).size, 20, 'each event handed on once');
  assert.ok(held.length >= 15, `held ${held.length}`);
  assert.equal(degraded.held, held.length - h.accepted.slice(20 - held.length).filter((a) => a.durable).length);

  const alarm = await waitFor('the degraded alarm at the hub', () => hub.messages.find((m) => m.topic.endsWith('/storage')));
  const parsed = storageMessageSchema.parse(alarm.json);
  assert.equal(parsed.kind, 'degraded');
  assert.equal(parsed.severity, 'critical');
  const direct = await waitFor('every alert at the hub, marked not stored', () => {
    const got = hub.messages.filter((m) => m.topic.endsWith('/alerts')).map((m) => alertSchema.parse(m.json));
    return made.every((e) => got.some((g) => g.id === e.id)) ? got : undefined;
  });
  assert.ok(direct.filter((g) => held.includes(g.id)).every((g) => g.stored === false), 'held alerts are marked not stored');
  assert.ok(hub.messages.filter((m) => m.topic.endsWith('/alerts')).every((m) => m.userProperties['event_id'] !== undefined));

  rmSync(ballast);
  await waitFor('recovery', () => (h.writer.health().state === 'ok' ? true : undefined), 15_000);
  const recovered = storageMessageSchema.parse((await waitFor('the recovered alarm',
    () => hub.messages.find((m) => m.topic.endsWith('/storage') && (m.json as { kind: string }).kind === 'recovered'))).json);
  assert.ok(recovered.kind === 'recovered' && recovered.written === held.length, 'the alarm counts every held event written');
  await waitFor('every held event written', () => (made.every((e) => h.store.getEvent(e.id)) ? true : undefined));
  await waitFor('the outbox drained', () => (h.store.outboxStats().depth === 0 ? true : undefined));
  for (const id of held) {
    assert.ok(h.store.getEvent(id)?.uplinkedAt !== null, 'delivered directly: marked uplinked');
    assert.equal(hub.messages.filter((m) => m.topic.endsWith('/alerts') && (m.json as { id: string }).id === id).length, 1,
      'delivered directly: written without an outbox row, so no second copy');
  }
  const health = h.writer.health();
  assert.equal(health.written, held.length);
  assert.deepEqual(health.lost, { info: 0, warning: 0, alert: 0, critical: 0 });
  assert.deepEqual(h.states.map((s) => s.state), ['degraded', 'ok']);
});

test('read-only storage with no broker: the bound gives up the least severe, oldest events and counts them by severity', async (t) => {
  const fs = await loopExt4(t, 16);
  const h = harness(t, fs.dir, () => null, 5);
  h.record(0, 'info');
  await waitFor('the first commit', () => (h.accepted.length === 1 ? true : undefined));
  fs.failReadOnly();
  assert.ok(fs.readOnly(), 'the kernel made the filesystem read-only');
  // The first of these is in flight when the others arrive, and is never given up.
  const sev = ['info', 'info', 'info', 'info', 'alert', 'alert', 'alert', 'alert', 'alert', 'alert'] as const;
  sev.forEach((s, i) => h.record(i + 1, s));
  const health = await waitFor('degraded mode', () => (h.writer.health().state === 'degraded' ? h.writer.health() : undefined));
  assert.match(health.code ?? '', /SQLITE_READONLY|SQLITE_IOERR|SQLITE_CANTOPEN/);
  assert.equal(health.held, 5);
  assert.deepEqual(health.lost, { info: 3, warning: 0, alert: 2, critical: 0 });
  assert.equal(health.unstored, 0);
});
