import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../daemon/manage/atomic-write.js';
import { getAt, parsePath, PathError, resolvePath } from '../../daemon/manage/config-path.js';
import { diffConfigs, redactConfig } from '../../daemon/manage/config-view.js';
import { LogRing } from '../../daemon/manage/log-ring.js';
import { tempDir } from '../helpers/shared.js';

const cfg = {
  mqtt: { url: 'mqtt://hub', password: 's3cret' },
  streams: [{ id: 'gate', uri: 'rtsp://admin:pw@10.0.0.5/live', fps: 5 }, { id: '7', uri: 'test://ball', fps: 2 }],
  rules: [],
};

test('config paths: items by id (ids may be digits) or by position, keys by name; clear errors', () => {
  assert.deepEqual(parsePath('streams.gate.fps'), ['streams', 'gate', 'fps']);
  assert.deepEqual(parsePath('streams[1].fps'), ['streams', '1', 'fps']);
  assert.deepEqual(parsePath(''), []);
  assert.deepEqual(resolvePath(cfg, parsePath('streams.gate.fps')), ['streams', 0, 'fps']);
  assert.deepEqual(resolvePath(cfg, parsePath('streams[0].uri')), ['streams', 0, 'uri']);
  assert.deepEqual(resolvePath(cfg, parsePath('streams.7')), ['streams', 1], 'an id that looks like a position is an id');
  assert.equal(getAt(cfg, resolvePath(cfg, parsePath('streams.7.fps'))), 2);
  assert.throws(() => resolvePath(cfg, parsePath('streams.door.fps')), (e: unknown) => e instanceof PathError && /no item "door" \(there are: gate, 7\)/.test(e.message));
  assert.throws(() => resolvePath(cfg, parsePath('mqtt.port')), /no key "port" \(there are: url, password\)/);
  assert.throws(() => resolvePath(cfg, parsePath('mqtt.url.x')), /is a string, it has no "x"/);
  assert.throws(() => parsePath('a..b'), /empty segment/);
  // Writing may name keys left to their defaults, at any depth, but never invent list items.
  assert.deepEqual(resolvePath(cfg, parsePath('streams.gate.tracker.high_score'), true), ['streams', 0, 'tracker', 'high_score']);
  assert.throws(() => resolvePath(cfg, parsePath('streams.door.fps'), true), /no item "door"/);
});

test('config views: secrets redacted; differences by path, list items matched by id', () => {
  const red = redactConfig(cfg) as typeof cfg;
  assert.equal(red.mqtt.password, '[redacted]');
  assert.equal(red.streams[0]?.uri, 'rtsp://***@10.0.0.5/live');
  assert.equal(cfg.mqtt.password, 's3cret', 'the original is left alone');

  const other = structuredClone(cfg);
  other.streams.shift();
  other.streams[0]!.fps = 3;
  other.mqtt.url = 'mqtts://hub';
  assert.deepEqual(diffConfigs(cfg, other), [
    { path: 'mqtt.url', running: 'mqtt://hub', other: 'mqtts://hub' },
    { path: 'streams.gate', running: cfg.streams[0] },
    { path: 'streams.7.fps', running: 2, other: 3 },
  ]);
  assert.deepEqual(diffConfigs(cfg, structuredClone(cfg)), []);
});

test('log ring: newest lines, level filter, a follower pages forward and is told what it missed', () => {
  const ring = new LogRing(5);
  const written: string[] = [];
  const dest = ring.tee({ write: (s: string) => { written.push(s); } });
  for (let i = 1; i <= 4; i++) dest.write(`${JSON.stringify({ level: i % 2 === 0 ? 'warn' : 'info', msg: `m${i}` })}\n`);
  assert.equal(written.length, 4, 'every line reaches the forward destination');
  assert.deepEqual(ring.tail({ limit: 2 }).entries.map((e) => [e.seq, e.line['msg']]), [[3, 'm3'], [4, 'm4']]);
  assert.deepEqual(ring.tail({ limit: 10, level: 'warn' }).entries.map((e) => e.line['msg']), ['m2', 'm4']);
  const first = ring.tail({ after: 0, limit: 3 });
  assert.deepEqual(first.entries.map((e) => e.seq), [1, 2, 3]);
  assert.equal(first.next, 3);
  assert.deepEqual(ring.tail({ after: first.next, limit: 3 }).entries.map((e) => e.seq), [4]);
  for (let i = 5; i <= 12; i++) dest.write(`${JSON.stringify({ level: 'info', msg: `m${i}` })}\n`);
  const late = ring.tail({ after: 4, limit: 100 });
  assert.equal(late.dropped, 3, 'lines 5-7 fell out of the ring before the follower came back');
  assert.deepEqual(late.entries.map((e) => e.seq), [8, 9, 10, 11, 12]);
  assert.equal(ring.tail({ after: late.next, limit: 100 }).entries.length, 0);
  dest.write('not json\n');
  assert.deepEqual(ring.tail({ limit: 1 }).entries[0]?.line, { msg: 'not json' });
});

test('atomic write: the new text replaces the old whole, the mode is kept, no temporary file stays', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'vigil.yaml');
  await writeFile(file, 'old: 1\n');
  await chmod(file, 0o640);
  await writeFileAtomic(file, 'new: 2\n');
  assert.equal(await readFile(file, 'utf8'), 'new: 2\n');
  assert.equal((await stat(file)).mode & 0o777, 0o640);
  assert.deepEqual(await readdir(dir), ['vigil.yaml']);
  await assert.rejects(writeFileAtomic(path.join(dir, 'missing', 'vigil.yaml'), 'x'), /ENOENT/);
  assert.deepEqual(await readdir(dir), ['vigil.yaml']);
});
