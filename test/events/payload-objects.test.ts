import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RuleHit } from '../../daemon/analytics/rules/types.js';
import { eventOf, startOptions, updateOptions } from '../../daemon/events/event-record.js';
import { alertOutbox } from '../../daemon/uplink/alert-message.js';
import { alertSchema } from '../../daemon/uplink/payloads.js';
import type { Frame } from '../../daemon/video/frame.js';
import { device, openStore } from '../uplink/harness.js';

const frame: Frame = { streamId: 'gate', seq: 1, ts: Date.parse('2026-01-01T00:00:00Z'), format: 'BGRx', width: 416, height: 234, data: Buffer.alloc(0),
  sourceWidth: 1920, sourceHeight: 1080 };

/** A tracker's estimate of an object half out of view: past both edges, with a filter's decimals. */
const hit: RuleHit = {
  ruleId: 'door', streamId: 'gate', severity: 'alert', ts: frame.ts, frame,
  objects: [{ classId: 0, label: 'person', score: 0.876543219, box: [-1.3059, 12.4999, 1933.71, 1090.2] }],
  facts: { kind: 'zone', trigger: 'enter', track_id: 3 },
};

test('the alert a hub receives has scores to 3 decimals and boxes in whole pixels inside the camera frame', async (t) => {
  const store = await openStore(t);
  const stored = store.recordEvent(eventOf(hit), alertOutbox(device, startOptions(true)));
  const sent = alertSchema.parse(JSON.parse(store.peekOutbox(10)[0]?.payload ?? '{}'));
  assert.deepEqual(sent.objects, [{ label: 'person', score: 0.877, box: [0, 12, 1920, 1080] }]);
  assert.deepEqual(stored.payload.objects, sent.objects, 'the stored event says what the hub was told');
});

test('an activity update clamps to the frame size it carries, and only at 0 when it carries none', () => {
  const objects = [{ classId: 0, label: 'person', score: 0.5004, box: [-4, -0.4, 700.6, 500] as [number, number, number, number] }];
  const withSize = updateOptions({ eventId: 'e', ruleId: 'door', streamId: 'gate', ts: frame.ts, objects, size: { width: 640, height: 480 } });
  assert.deepEqual(withSize.objects, [{ label: 'person', score: 0.5, box: [0, 0, 640, 480] }]);
  const without = updateOptions({ eventId: 'e', ruleId: 'door', streamId: 'gate', ts: frame.ts, objects });
  assert.deepEqual(without.objects, [{ label: 'person', score: 0.5, box: [0, 0, 701, 500] }]);
});
