import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { PairCatchUp } from '../../daemon/pair/catch-up.js';
import { EventStore } from '../../daemon/store/event-store.js';
import { DATABASE_FILE } from '../../daemon/store/open.js';
import { StoreWriter } from '../../daemon/store/store-writer.js';
import type { StoredEvent } from '../../daemon/store/types.js';
import { alertSchema } from '../../daemon/uplink/payloads.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { alertEvent, captureLogger, device } from '../uplink/harness.js';

/**
 * The takeover's catch-up on a real SQLite file and the real store writer (its own thread and
 * connection). A second connection holds the write lock, so an event recorded as standby is still
 * in the writer's queue when the takeover's query runs: it must be queued when it commits.
 */
test('catch-up at a takeover queues the standby\'s events since the peer was last heard, including one committed after the takeover, each once', async (t) => {
  const dir = await tempDir(t, 'vigil-catch-up-');
  const store = EventStore.open(dir, { recover: true });
  const writer = new StoreWriter({ file: path.join(dir, DATABASE_FILE), store, device, log: captureLogger('error').log, publisher: () => null });
  t.after(async () => {
    await writer.close(500);
    store.close();
  });
  const { log, lines } = captureLogger('info');
  const catchUp = new PairCatchUp({ store, device, rules: () => [{ id: 'people-at-gate' }], log });
  // As the recorder does: an event recorded as standby has no message; its commit is told to the catch-up.
  const accepted = new Set<string>();
  const recordAsStandby = (i: number, rule = 'people-at-gate'): StoredEvent =>
    writer.record({ ...alertEvent(i), ts: Date.now(), rule }, undefined, (stored) => {
      catchUp.committed(stored);
      accepted.add(stored.id);
    });
  const committed = (id: string): boolean => accepted.has(id);

  const before = recordAsStandby(1);
  await waitFor('the event before the window', () => (committed(before.id) ? true : undefined));
  await waitFor('a new millisecond', () => (Date.now() > before.createdAt ? true : undefined), 1000, 1);
  const since = Date.now();
  const inWindow = recordAsStandby(2);
  const otherRule = recordAsStandby(3, 'some-retired-rule');
  await waitFor('the events in the window', () => (committed(inWindow.id) && committed(otherRule.id) ? true : undefined));

  // The writer's next commit waits on this lock (its busy handler sleeps tens of ms between tries
  // once it has waited a while), so the event recorded now is not in the database when the takeover
  // queries it just after the lock is released. The takeover itself needs the lock to queue.
  const holder = new BetterSqlite3(path.join(dir, DATABASE_FILE));
  t.after(() => holder.close());
  holder.exec('BEGIN IMMEDIATE');
  const late = recordAsStandby(4);
  await new Promise<void>((resolve) => { setTimeout(resolve, 300); });
  holder.exec('COMMIT');
  const queued = catchUp.takeover(since, { epoch: 7, producer: device.id });
  assert.equal(accepted.has(late.id), false, 'the late event was not committed at the takeover (if this fails, the writer won the race: rerun)');
  assert.equal(queued, 1, 'the first pass finds the committed event of the window only');
  await waitFor('the late event committed', () => (committed(late.id) ? true : undefined), 5000);

  const rows = (): { event_id: string; payload: string }[] => store.db.prepare('SELECT event_id, payload FROM outbox ORDER BY seq').all() as { event_id: string; payload: string }[];
  assert.deepEqual(rows().map((r) => r.event_id), [inWindow.id, late.id], 'each event of the window once; none from before it, none of another rule');
  for (const r of rows()) {
    const alert = alertSchema.parse(JSON.parse(r.payload));
    assert.equal(alert.pair_epoch, 7);
    assert.equal(alert.producer, device.id);
  }
  assert.ok(lines.some((l) => l.msg === 'pair catch-up: event committed after the takeover queued' && l['event'] === late.id));

  // After a step-down the window is closed: a standby's late commit stays local.
  catchUp.standby();
  const afterStepDown = recordAsStandby(5);
  await waitFor('the event after the step-down committed', () => (committed(afterStepDown.id) ? true : undefined), 5000);
  assert.equal(rows().length, 2, 'nothing queued after the step-down');
});
