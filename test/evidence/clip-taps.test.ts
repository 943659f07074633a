import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema, type Config, type ConfigInput } from '../../daemon/config/schema.js';
import { ClipRecorder } from '../../daemon/evidence/clip-recorder.js';
import { ClipTaps } from '../../daemon/evidence/clip-taps.js';
import { silentLogger } from '../../daemon/log.js';
import type { AccessUnitListener } from '../../daemon/video/access-unit.js';
import { tempDir } from '../helpers/shared.js';

const ZONE: [number, number][] = [[0, 0], [1, 0], [1, 1]];

test('only streams with a clip rule are subscribed, and live changes subscribe, keep or release them', async (t) => {
  let cfg: Config;
  const set = (input: Partial<ConfigInput>): void => {
    cfg = configSchema.parse({ device: { id: 'box-1', site: 'depot' }, mqtt: { url: 'mqtt://127.0.0.1:1883' }, ...input });
  };
  const streams = [{ id: 'gate', uri: 'file:///dev/null' }, { id: 'yard', uri: 'file:///dev/null' }];
  const door = { id: 'door', stream: 'gate', kind: 'zone' as const, zone: ZONE, classes: ['person'] };
  set({ streams, rules: [door, { ...door, id: 'shed', stream: 'yard', severity: 'info' as const }] });
  const recorder = new ClipRecorder({ config: () => cfg, storageDir: await tempDir(t), log: silentLogger(), sink: () => null });
  t.after(() => recorder.stop(100));
  const subscribed = new Map<string, AccessUnitListener>();
  const taps = new ClipTaps(recorder, (id, l) => {
    subscribed.set(id, l);
    return () => subscribed.delete(id);
  });

  taps.syncAll(['gate', 'yard']);
  assert.deepEqual([...subscribed.keys()], ['gate'], 'yard\'s only rule is info, which gets no clip');

  // The yard rule raised to alert: subscribed on the next sync.
  set({ streams, rules: [door, { ...door, id: 'shed', stream: 'yard' }] });
  taps.sync('yard');
  assert.deepEqual([...subscribed.keys()].sort(), ['gate', 'yard']);

  // The gate rule's clips turned off: released.
  set({ streams, rules: [{ ...door, clips: false }, { ...door, id: 'shed', stream: 'yard' }] });
  taps.sync('gate');
  assert.deepEqual([...subscribed.keys()], ['yard']);
  assert.equal(recorder.wantsStream('gate'), false);

  // A stream removed: released, and a second drop is harmless.
  taps.drop('yard');
  taps.drop('yard');
  assert.equal(subscribed.size, 0);
});
