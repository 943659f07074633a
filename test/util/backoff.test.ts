import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../daemon/util/backoff.js';

void test('delays grow exponentially to the cap, with full jitter between min and the current cap', () => {
  const now = 0;
  const top = new Backoff({ minMs: 100, maxMs: 1000, healthyAfterMs: 5000, random: () => 0.999999, now: () => now });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => top.failed()), [100, 200, 400, 800, 1000, 1000]);
  const bottom = new Backoff({ minMs: 100, maxMs: 1000, healthyAfterMs: 5000, random: () => 0, now: () => now });
  assert.deepEqual([1, 2, 3].map(() => bottom.failed()), [100, 100, 100]);
  const mid = new Backoff({ minMs: 100, maxMs: 1000, healthyAfterMs: 5000, random: () => 0.5, now: () => now });
  assert.deepEqual([1, 2, 3].map(() => mid.failed()), [100, 150, 250]);
});

void test('a healthy period resets the backoff; a short success does not', () => {
  let now = 0;
  const b = new Backoff({ minMs: 100, maxMs: 10_000, healthyAfterMs: 5000, random: () => 0.999999, now: () => now });
  b.failed();
  b.failed();
  b.failed();
  b.succeeded();
  now += 1000;
  assert.equal(b.failed(), 800, 'one second of frames is not yet healthy');
  b.succeeded();
  now += 5000;
  assert.equal(b.failed(), 100, 'five seconds of frames resets');
  assert.equal(b.attempts, 1);
});
