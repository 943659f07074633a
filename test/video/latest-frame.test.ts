import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame } from '../../daemon/video/frame.js';
import { LatestFrameSlot } from '../../daemon/video/latest-frame.js';

const frame = (seq: number): Frame => ({
  streamId: 's', seq, ts: seq, format: 'BGRx', width: 1, height: 1, data: Buffer.alloc(4), sourceWidth: 1, sourceHeight: 1,
});

void test('a slow consumer gets the newest frame and the skipped ones are counted', async () => {
  const slot = new LatestFrameSlot();
  slot.put(frame(1));
  slot.put(frame(2));
  slot.put(frame(3));
  assert.equal((await slot.next())?.seq, 3);
  assert.equal(slot.dropped, 2);
});

void test('a waiting consumer is handed the next frame directly', async () => {
  const slot = new LatestFrameSlot();
  const p = slot.next();
  slot.put(frame(7));
  assert.equal((await p)?.seq, 7);
  assert.equal(slot.dropped, 0);
});

void test('close and abort wake the consumer with null', async () => {
  const slot = new LatestFrameSlot();
  const p = slot.next();
  slot.close();
  assert.equal(await p, null);
  assert.equal(await slot.next(), null);
  slot.reopen();
  const ac = new AbortController();
  const q = slot.next(ac.signal);
  ac.abort();
  assert.equal(await q, null);
  slot.put(frame(1));
  assert.equal((await slot.next())?.seq, 1, 'an aborted wait does not swallow the next frame');
});
