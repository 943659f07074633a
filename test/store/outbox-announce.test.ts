import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { EventStore } from '../../daemon/store/event-store.js';
import { DATABASE_FILE } from '../../daemon/store/open.js';
import { StoreWriter } from '../../daemon/store/store-writer.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { alertEvent, captureLogger, device } from '../uplink/harness.js';
import { newEvent, toOutbox } from './store-fixtures.js';

// The uplink subscribes once (EventStore.onEnqueued) instead of every writer waking it by hand:
// each commit that added outbox rows is announced after the commit, and no other write is.

test('the store announces each commit that queued outbox rows, and only those', async (t) => {
  const store = EventStore.open(await tempDir(t));
  t.after(() => store.close());
  let announced = 0;
  const rowsAtAnnounce: number[] = [];
  const stop = store.onEnqueued(() => {
    announced += 1;
    rowsAtAnnounce.push(store.outboxStats().depth);
  });

  const a = store.recordEvent(newEvent(1), toOutbox);
  assert.equal(announced, 1, 'recordEvent with a message');
  assert.deepEqual(rowsAtAnnounce, [1], 'told after the commit: the row is readable');
  store.recordEvent(newEvent(2));
  assert.equal(announced, 1, 'an event without a message queues nothing');
  store.recordEvents([newEvent(3), newEvent(4)], toOutbox);
  assert.equal(announced, 2, 'one announcement per commit, not per row');
  store.enqueue({ topic: 't/telemetry', payload: '{}', qos: 1, priority: 3 });
  assert.equal(announced, 3, 'enqueue');
  assert.ok(store.enqueueForEvent(a.id, toOutbox, { supersede: ['update'] }));
  assert.equal(announced, 4, 'enqueueForEvent with a message');
  store.enqueueForEvent(a.id, () => undefined, { merge: { note: 'merged only' } });
  assert.equal(announced, 4, 'enqueueForEvent without a message');
  assert.equal(store.enqueueForEvent('0190a1b2-0000-7000-8000-000000000000', toOutbox), undefined);
  assert.equal(announced, 4, 'an unknown event queues nothing');
  assert.throws(() => store.recordEvent(newEvent(5), () => { throw new Error('bad message'); }));
  assert.equal(announced, 4, 'a rolled-back write is not announced');

  store.onEnqueued(() => { throw new Error('listener bug'); });
  store.recordEvent(newEvent(6), toOutbox);
  assert.equal(announced, 5, 'a failing listener neither fails the write nor stops the others');
  stop();
  store.recordEvent(newEvent(7), toOutbox);
  assert.equal(announced, 5, 'unsubscribed');
});

test('rows the store writer commits on its thread are announced on the main thread', async (t) => {
  const dir = await tempDir(t);
  const store = EventStore.open(dir, { recover: true });
  const writer = new StoreWriter({ file: path.join(dir, DATABASE_FILE), store, device, log: captureLogger('info').log, publisher: () => null });
  t.after(async () => {
    await writer.close(200);
    store.close();
  });
  let announced = 0;
  let committedBeforeAnnounce = true;
  store.onEnqueued(() => {
    announced += 1;
    if (store.outboxStats().depth === 0) committedBeforeAnnounce = false;
  });
  const stored = writer.record(alertEvent(1), alertOutbox(device), () => undefined);
  assert.equal(announced, 0, 'nothing is announced before the commit');
  await waitFor('the record announced', () => (announced >= 1 ? true : undefined));
  assert.ok(committedBeforeAnnounce, 'the row is in the outbox when the listener runs');
  assert.ok(writer.followUp(stored.id, alertOutbox(device), { supersede: ['update'] }));
  await waitFor('the follow-up announced', () => (announced >= 2 ? true : undefined));
  const before = announced;
  writer.mergePayload(stored.id, { note: 'no message' });
  writer.record(alertEvent(2), undefined, () => undefined);
  await waitFor('both committed', () => (store.listEvents({}).length === 2 ? true : undefined));
  await waitFor('the merge committed', () => (store.getEvent(stored.id)?.payload['note'] === 'no message' ? true : undefined));
  assert.equal(announced, before, 'writes without a message are not announced');
});
