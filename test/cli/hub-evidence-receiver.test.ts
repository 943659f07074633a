import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { EvidenceReceiver } from '../../cli/evidence/receiver.js';
import { evidenceHeader } from '../../daemon/uplink/evidence-message.js';
import { tempDir } from '../helpers/shared.js';

const device = { id: 'cam-1', site: 'lab' };
const EVENT = '0190e6d6-0000-7000-8000-0000000000aa';
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The messages a device sends for `data` in parts of `chunk` bytes (as the drainer builds them). */
function partsOf(data: Buffer, chunk: number, sha256 = sha(data)): Buffer[] {
  const count = Math.ceil(data.length / chunk);
  return Array.from({ length: count }, (_, index) => {
    const offset = index * chunk;
    const length = Math.min(chunk, data.length - offset);
    const header = evidenceHeader(device, { eventId: EVENT, kind: 'clip', path: `/x/${EVENT}.mp4`, bytes: data.length, sha256, width: 2, height: 2, createdAt: 0 },
      { offset, length, index, count });
    return Buffer.concat([Buffer.from(JSON.stringify(header)), Buffer.from('\n'), data.subarray(offset, offset + length)]);
  });
}

const topic = `vigil/v1/${device.site}/${device.id}/evidence/chunk`;

test('parts in any order, duplicated, across a restart of the receiver: the file is whole once, written when complete', async (t) => {
  const out = await tempDir(t);
  const data = randomBytes(10_000);
  const parts = partsOf(data, 1024);
  const first = new EvidenceReceiver(out, device.site);
  for (const i of [9, 0, 3, 3]) assert.match(first.handle(topic, parts[i]!, undefined).kind, /part|duplicate/);
  assert.equal(existsSync(path.join(out, device.id, `${EVENT}.mp4`)), false, 'nothing is final before every part is there');
  // A new receiver (a restart) knows what is on disk.
  const second = new EvidenceReceiver(out, device.site);
  assert.deepEqual(second.pending(), [{ device: device.id, event_id: EVENT, received: 3, count: 10 }]);
  const outcomes = [1, 2, 4, 5, 6, 7, 0, 8].map((i) => second.handle(topic, parts[i]!, undefined));
  assert.deepEqual(outcomes.map((o) => o.kind), ['part', 'part', 'part', 'part', 'part', 'part', 'duplicate', 'complete']);
  const done = outcomes.at(-1);
  assert.ok(done?.kind === 'complete');
  assert.deepEqual([done.file.sha256, done.file.bytes, done.file.kind], [sha(data), data.length, 'clip']);
  assert.deepEqual(readFileSync(path.join(out, device.id, `${EVENT}.mp4`)), data);
  assert.deepEqual(readdirSync(path.join(out, '.partial', device.id)), [], 'no partial state left');
  assert.equal(second.handle(topic, parts[2]!, undefined).kind, 'duplicate', 'a late duplicate of a finished file');
});

test('a file whose bytes do not match its sha256 is kept as .bad, never under its name', async (t) => {
  const out = await tempDir(t);
  const data = randomBytes(3000);
  const receiver = new EvidenceReceiver(out, device.site);
  const outcomes = partsOf(data, 1024, sha(Buffer.from('something else'))).map((p) => receiver.handle(topic, p, undefined));
  const bad = outcomes.at(-1);
  assert.ok(bad?.kind === 'bad', JSON.stringify(bad));
  assert.equal(bad.path, path.join(out, device.id, `${EVENT}.mp4.bad`));
  assert.equal(existsSync(path.join(out, device.id, `${EVENT}.mp4`)), false);
});

test('bad input: a clear reason, nothing written outside the output directory', async (t) => {
  const out = await tempDir(t);
  const receiver = new EvidenceReceiver(out, device.site);
  const part = partsOf(randomBytes(100), 1024)[0]!;
  assert.match(JSON.stringify(receiver.handle('vigil/v1/other/cam-1/evidence/chunk', part, undefined)), /not an evidence topic of site lab/);
  assert.match(JSON.stringify(receiver.handle(topic, Buffer.from('no header line'), undefined)), /without a header line/);
  assert.match(JSON.stringify(receiver.handle(topic, Buffer.from('{"schema":"vigil.evidence/1"}\nxx'), undefined)), /does not match vigil.evidence\/1/);
  assert.match(JSON.stringify(receiver.handle('vigil/v1/lab/cam-2/evidence/chunk', part, undefined)), /names device cam-1/);
  const header = JSON.parse(part.subarray(0, part.indexOf(0x0a)).toString()) as Record<string, unknown>;
  const evil = Buffer.concat([Buffer.from(JSON.stringify({ ...header, event_id: '../../etc' })), Buffer.from('\n'), part.subarray(part.indexOf(0x0a) + 1)]);
  assert.match(JSON.stringify(receiver.handle(topic, evil, undefined)), /does not match vigil.evidence\/1/);
  const short = Buffer.concat([part.subarray(0, part.indexOf(0x0a) + 1), Buffer.from('x')]);
  assert.match(JSON.stringify(receiver.handle(topic, short, undefined)), /do not fit its header/);
  // A snapshot sent whole: over MQTT 3.1.1 it has no event id to be named by.
  assert.match(JSON.stringify(receiver.handle(`vigil/v1/lab/cam-1/evidence`, Buffer.from([0xff, 0xd8]), undefined)), /without a usable event_id/);
  const jpeg = Buffer.from([0xff, 0xd8, 1, 2, 3]);
  const ok = receiver.handle('vigil/v1/lab/cam-1/evidence', jpeg, { event_id: EVENT, sha256: sha(jpeg) });
  assert.equal(ok.kind, 'complete');
  const mismatch = receiver.handle('vigil/v1/lab/cam-1/evidence', jpeg, { event_id: EVENT.replace('aa', 'bb'), sha256: sha(Buffer.from('x')) });
  assert.equal(mismatch.kind, 'bad');
  assert.deepEqual(readdirSync(out).sort(), ['.partial', device.id]);
});
