import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { configSchema, type ConfigInput } from '../../daemon/config/schema.js';
import { ClipRecorder, type ClipOutcome } from '../../daemon/evidence/clip-recorder.js';
import type { EvidenceFile, EvidenceFileSink } from '../../daemon/evidence/evidence-files.js';
import { EventStore } from '../../daemon/store/event-store.js';
import type { AccessUnit, AccessUnitListener } from '../../daemon/video/access-unit.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { fillUp, smallTmpfs } from '../store/tmpfs.js';
import { newEvent } from '../store/store-fixtures.js';
import { captureLogger } from '../uplink/harness.js';
import { accessUnitsOf, decodeMp4, makeX264 } from './clip-fixtures.js';

const W0 = 1_700_000_000_000;
const ZONE: [number, number][] = [[0, 0], [1, 0], [1, 1]];

function config(extra: Partial<ConfigInput> = {}): ReturnType<typeof configSchema.parse> {
  return configSchema.parse({
    device: { id: 'box-1', site: 'depot' }, mqtt: { url: 'mqtt://127.0.0.1:1883' },
    streams: [{ id: 'cam', uri: 'file:///dev/null' }],
    rules: [{ id: 'door', stream: 'cam', kind: 'zone', zone: ZONE, classes: ['person'], severity: 'alert' }],
    ...extra,
  });
}

interface Harness {
  recorder: ClipRecorder;
  listener: AccessUnitListener;
  files: EvidenceFile[];
  outcomes: ClipOutcome[];
  storage: string;
  lines: { msg?: string; level?: string | number; [k: string]: unknown }[];
  /** Resolves with the event's outcome once it is known. */
  outcome(eventId: string): Promise<ClipOutcome>;
}

async function harness(t: TestContext, opts: { storage?: string; cfg?: ReturnType<typeof config>; store?: EvidenceFileSink } = {}): Promise<Harness> {
  const storage = opts.storage ?? await tempDir(t);
  const cfg = opts.cfg ?? config();
  const files: EvidenceFile[] = [];
  const outcomes: ClipOutcome[] = [];
  const { log, lines } = captureLogger('debug');
  const recorder = new ClipRecorder({
    config: () => cfg, storageDir: storage, log: log,
    sink: () => ({ addEvidenceFile: (f) => { files.push(f); return opts.store ? opts.store.addEvidenceFile(f) : true; } }),
    onOutcome: (o) => outcomes.push(o),
  });
  t.after(() => recorder.stop(500));
  const listener = recorder.listenerFor('cam');
  assert.ok(listener, 'a stream whose rule gets clips is listened to');
  return {
    recorder, listener, files, outcomes, storage, lines: lines,
    outcome: (id) => waitFor(`the clip outcome of ${id}`, () => outcomes.find((o) => o.eventId === id), 30_000),
  };
}

/** Units retimed onto the wall clock W0 + offset, at the file's frame interval. */
const at = (units: readonly AccessUnit[], offsetMs = 0, epoch = 1): AccessUnit[] =>
  units.map((u) => ({ ...u, epoch, wallMs: W0 + offsetMs + u.ptsMs, ptsMs: offsetMs + u.ptsMs }));

const feed = (l: AccessUnitListener, units: readonly AccessUnit[], from: number, to: number): void => {
  for (let i = from; i < to && i < units.length; i++) l(units[i]!);
};

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

const hit = (ts: number) => ({ streamId: 'cam', ruleId: 'door', ts, severity: 'alert' as const });

test('a 10-second activity gives pre-roll from the keyframe before it, the activity, and the post-roll, and plays to the end', async (t) => {
  const dir = await tempDir(t);
  const units = at(await accessUnitsOf(await makeX264(dir, { seconds: 30, fps: 10, keyInt: 10 })));
  const h = await harness(t);
  // The event at 12.5 s: the pre-roll asks for 7.5 s, the keyframe before it is at 7.0 s.
  feed(h.listener, units, 0, 126);
  h.recorder.start('ev-1', hit(W0 + 12_500), false);
  feed(h.listener, units, 126, 226);
  h.recorder.end('ev-1', W0 + 22_500);
  feed(h.listener, units, 226, 300);
  const o = await h.outcome('ev-1');
  const file = o.file;
  assert.ok(file, o.error);
  assert.equal(file.path, path.join(h.storage, 'evidence', 'ev-1.mp4'));
  assert.equal(file.truncated, undefined);
  assert.equal(file.startedAt, W0 + 7000);
  assert.ok(file.startedAt >= W0 + 12_500 - 5000 - 1000 && file.startedAt <= W0 + 12_500 - 5000, 'starts at most 1 s before the pre-roll');
  assert.equal(file.width, 320);
  assert.equal(file.sha256, sha(file.path));
  assert.deepEqual(readdirSync(path.join(h.storage, 'evidence')), ['ev-1.mp4'], 'no .tmp left');
  // 7.0 s to 27.5 s (the end at 22.5 s plus 5 s): units 70..275.
  const d = await decodeMp4(file.path);
  assert.equal(d.frames, 206);
  assert.ok(d.firstIsKey);
  assert.ok(Math.abs(d.durationS - 20.6) < 0.05, `duration ${d.durationS}`);
  assert.ok(Math.abs(file.durationS! - 20.6) < 0.05);
  assert.deepEqual(h.files, [file]);
});

test('an instant event gets pre- and post-roll; a second event of the rule inside its clip extends that clip instead of starting another', async (t) => {
  const dir = await tempDir(t);
  const units = at(await accessUnitsOf(await makeX264(dir, { seconds: 20, fps: 10, keyInt: 10 })));
  const h = await harness(t);
  feed(h.listener, units, 0, 81);
  h.recorder.start('cross-1', hit(W0 + 8000), true);
  feed(h.listener, units, 81, 101);
  h.recorder.start('cross-2', hit(W0 + 10_000), true);
  feed(h.listener, units, 101, 200);
  const [a, b] = [await h.outcome('cross-1'), await h.outcome('cross-2')];
  // One clip from 3.0 s (cross-1's pre-roll) to 15.0 s (cross-2's post-roll).
  assert.equal(a.file!.startedAt, W0 + 3000);
  assert.equal((await decodeMp4(a.file!.path)).frames, 121);
  assert.equal(b.file, null);
  assert.equal(b.error, 'in the clip of event cross-1');
  assert.equal(h.recorder.status().covered, 1);
});

test('no keyframe in the ring: the clip starts at the next keyframe, marked, with a log line; none in time: no clip, a log line, no throw', async (t) => {
  const dir = await tempDir(t);
  // One keyframe every 10 s, and the stream joined mid-GOP: the ring has nothing to start from.
  const units = at(await accessUnitsOf(await makeX264(dir, { seconds: 25, fps: 10, keyInt: 100 })));
  const h = await harness(t);
  feed(h.listener, units, 30, 51);
  h.recorder.start('late', hit(W0 + 5000), false);
  feed(h.listener, units, 51, 121);
  h.recorder.end('late', W0 + 12_000);
  feed(h.listener, units, 121, 250);
  const o = await h.outcome('late');
  assert.ok(o.file);
  assert.match(o.file.truncated ?? '', /no keyframe in pre-roll/);
  assert.equal(o.file.startedAt, W0 + 10_000);
  const d = await decodeMp4(o.file.path);
  assert.ok(d.firstIsKey);
  assert.equal(d.frames, 71, '10.0 s (the keyframe) to 17.0 s (the end and the post-roll)');
  assert.ok(h.lines.some((l) => l.msg === 'event clip truncated' && l['event'] === 'late'));

  // An event whose whole clip passes without a keyframe.
  const h2 = await harness(t);
  feed(h2.listener, units, 110, 121);
  h2.recorder.start('never', hit(W0 + 12_000), true);
  feed(h2.listener, units, 121, 190);
  const none = await h2.outcome('never');
  assert.equal(none.file, null);
  assert.match(none.error ?? '', /no keyframe/);
  assert.ok(h2.lines.some((l) => l.msg === 'no event clip: the stream gave no keyframe in time' && l['event'] === 'never'));
  assert.equal(h2.recorder.status().failed, 1);
});

test('a resolution change mid-clip ends the clip there, marked, and what was recorded plays', async (t) => {
  const dir = await tempDir(t);
  const small = at(await accessUnitsOf(await makeX264(dir, { seconds: 10, fps: 10, keyInt: 10, name: 'small.mp4' })));
  const big = at(await accessUnitsOf(await makeX264(dir, { seconds: 10, fps: 10, keyInt: 10, width: 640, height: 480, name: 'big.mp4' })), 10_000, 2);
  const h = await harness(t);
  feed(h.listener, small, 0, 61);
  h.recorder.start('ev', hit(W0 + 6000), false);
  feed(h.listener, small, 61, 100);
  feed(h.listener, big, 0, 50);
  h.recorder.end('ev', W0 + 14_000);
  const o = await h.outcome('ev');
  assert.ok(o.file);
  assert.match(o.file.truncated ?? '', /track changed: avc1\.\w+ 320x240 to avc1\.\w+ 640x480/);
  const d = await decodeMp4(o.file.path);
  assert.equal(d.frames, 90, '1.0 s to 10.0 s of the first track, none of the second');
  assert.ok(h.lines.some((l) => l.msg === 'event clip truncated' && /track changed/.test(String(l['reason']))));

  // The same track in a new epoch: the pipeline restarted.
  const h2 = await harness(t);
  const again = at(await accessUnitsOf(path.join(dir, 'small.mp4')), 10_000, 3);
  feed(h2.listener, small, 0, 61);
  h2.recorder.start('ev2', hit(W0 + 6000), false);
  feed(h2.listener, small, 61, 100);
  feed(h2.listener, again, 0, 10);
  assert.match((await h2.outcome('ev2')).file?.truncated ?? '', /stream restarted/);
});

test('a full disk: the clip is cut to what fits and marked, an empty disk gives one error line, the next clip is written again, and every event stays in the store', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const units = at(await accessUnitsOf(await makeX264(dir, { seconds: 30, fps: 10, keyInt: 10, kbps: 2000, pattern: 'snow' })));
  const clipBytes = units.slice(0, 200).reduce((n, u) => n + u.data.length, 0);
  assert.ok(clipBytes > 4 * 1024 * 1024, `the test needs a clip larger than the disk (${clipBytes} bytes)`);
  const storage = await smallTmpfs(t, 3);
  // The real store on the same small disk: the events are committed before their clips start, as in the daemon.
  const store = EventStore.open(storage);
  t.after(() => store.close());
  const [big, full1, full2, later] = [0, 1, 2, 3].map((i) => store.recordEvent(newEvent(i)).id) as [string, string, string, string];
  const h = await harness(t, { storage, store });
  feed(h.listener, units, 0, 101);
  h.recorder.start(big, hit(W0 + 10_000), false);
  feed(h.listener, units, 101, 200);
  h.recorder.end(big, W0 + 15_000);
  feed(h.listener, units, 200, 210);
  const o = await h.outcome(big);
  assert.ok(o.file, o.error);
  assert.match(o.file.truncated ?? '', /disk full/, `${o.file.bytes} bytes from ${(o.file.startedAt ?? 0) - W0} ms, ${o.file.durationS} s`);
  const d = await decodeMp4(o.file.path);
  assert.ok(d.frames > 10 && d.frames < 150, `${d.frames} frames`);
  assert.ok(d.firstIsKey);
  assert.equal(o.file.sha256, sha(o.file.path));

  // Nothing left: no clip, one error line for two failures, and never a throw.
  const filler = fillUp(storage);
  for (const id of [full1, full2]) {
    // Activities, so that each gets a clip of its own (instant events of one rule would share one).
    h.recorder.start(id, hit(W0 + 21_000), false);
    h.recorder.end(id, W0 + 21_000);
  }
  feed(h.listener, units, 210, 300);
  for (const id of [full1, full2]) assert.equal((await h.outcome(id)).file, null);
  const errors = h.lines.filter((l) => l.msg?.startsWith('event clip not written'));
  assert.deepEqual(errors.map((l) => l.level), ['error', 'debug']);
  assert.deepEqual(readdirSync(path.join(storage, 'evidence')), [`${big}.mp4`], 'no partial file is left');

  // Room again (in the daemon, evidence retention makes it): the next clip is whole.
  unlinkSync(filler);
  unlinkSync(o.file.path);
  const more = at(await accessUnitsOf(await makeX264(dir, { seconds: 12, fps: 10, keyInt: 10, name: 'small.mp4' })), 40_000, 2);
  feed(h.listener, more, 0, 61);
  h.recorder.start(later, hit(W0 + 46_000), true);
  feed(h.listener, more, 61, 120);
  const after = await h.outcome(later);
  assert.ok(after.file && after.file.truncated === undefined, after.error);
  assert.ok(h.lines.some((l) => l.msg === 'event clips are written again'));

  // No event lost; the store recorded the cut clip as such, and no clip for the two that found no room.
  for (const id of [big, full1, full2, later]) assert.ok(store.getEvent(id), `event ${id} is still stored`);
  assert.deepEqual(store.evidenceOf(big).map((f) => [f.kind, f.truncated]), [['clip', 'disk full']]);
  assert.deepEqual(store.evidenceOf(full1), []);
  assert.deepEqual(store.evidenceOf(later).map((f) => [f.kind, f.truncated ?? null]), [['clip', null]]);
});

test('stop completes clips still recording, marked stopped, and writes them before it returns', async (t) => {
  const dir = await tempDir(t);
  const units = at(await accessUnitsOf(await makeX264(dir, { seconds: 12, fps: 10, keyInt: 10 })));
  const h = await harness(t);
  feed(h.listener, units, 0, 61);
  h.recorder.start('open', hit(W0 + 6000), false);
  feed(h.listener, units, 61, 90);
  await h.recorder.stop(1500);
  const o = h.outcomes.find((x) => x.eventId === 'open');
  assert.ok(o?.file, 'written before stop returned');
  assert.equal(o.file.truncated, 'stopped');
  assert.equal((await decodeMp4(o.file.path)).frames, 90 - 10);
  h.recorder.start('after-stop', hit(W0 + 8000), true);
  assert.equal(h.recorder.status().started, 1, 'no clip starts once stopping');
});

test('a clip whose stream goes quiet is completed from the clock, marked stalled', async (t) => {
  const dir = await tempDir(t);
  const units = at(await accessUnitsOf(await makeX264(dir, { seconds: 8, fps: 10, keyInt: 10 })), Date.now() - 8000 - W0);
  const storage = await tempDir(t);
  const outcomes: ClipOutcome[] = [];
  const { log } = captureLogger('info');
  const recorder = new ClipRecorder({
    config: () => config(), storageDir: storage, log: log, sink: () => null, staleMs: 200, onOutcome: (o) => outcomes.push(o),
  });
  t.after(() => recorder.stop(500));
  const l = recorder.listenerFor('cam')!;
  feed(l, units, 0, 70);
  recorder.start('quiet', hit(units[69]!.wallMs), true);
  const o = await waitFor('the stalled clip', () => outcomes.find((x) => x.eventId === 'quiet'), 10_000);
  assert.match(o.file?.truncated ?? '', /stream stalled/);
  assert.ok(existsSync(o.file!.path));
});

test('streams and rules without clips pay nothing: no listener, no ring', async (t) => {
  const storage = await tempDir(t);
  const off = (cfg: ReturnType<typeof config>): boolean => {
    const r = new ClipRecorder({ config: () => cfg, storageDir: storage, log: captureLogger().log, sink: () => null });
    t.after(() => r.stop(100));
    return r.listenerFor('cam') === null;
  };
  const rule = { id: 'door', stream: 'cam', kind: 'zone' as const, zone: ZONE, classes: ['person'] };
  assert.ok(off(config({ rules: [{ ...rule, severity: 'info' }] })), 'info is not in the default severities');
  assert.ok(off(config({ rules: [{ ...rule, clips: false }] })));
  assert.ok(off(config({ streams: [{ id: 'cam', uri: 'file:///dev/null', clips: false }] })));
  assert.ok(off(config({ evidence: { clips: { enabled: false } } })));
  assert.ok(off(config({ evidence: { clips: { severities: ['critical'] } } })));
  assert.ok(!off(config({ evidence: { severities: ['info'] }, rules: [{ ...rule, severity: 'info' }] })), 'clips follow evidence.severities by default');
});

test('figures: event end to clip on disk (p50/p99) and muxing CPU per second of 1080p video at 4 Mbit/s', { timeout: 300_000 }, async (t) => {
  const dir = await tempDir(t);
  const fps = 25;
  const units = at(await accessUnitsOf(await makeX264(dir, { seconds: 16, fps, keyInt: fps, width: 1920, height: 1080, kbps: 4000, pattern: 'snow' })));
  const h = await harness(t);
  const cpu = process.cpuUsage();
  let videoS = 0;
  // 20 instant events, each a 10 s clip (5 s + 5 s) of the same 1080p stream, one after another.
  for (let i = 0; i < 20; i++) {
    const id = `fig-${i}`;
    const shifted = at(units, i * 16_000 - 0, i + 1);
    feed(h.listener, shifted, 0, 8 * fps + 1);
    h.recorder.start(id, hit(W0 + i * 16_000 + 8000), true);
    feed(h.listener, shifted, 8 * fps + 1, 16 * fps);
    const o = await h.outcome(id);
    assert.ok(o.file && o.file.truncated === undefined, o.error ?? o.file?.truncated);
    videoS += o.file.durationS ?? 0;
  }
  const used = process.cpuUsage(cpu);
  const s = h.recorder.status();
  const q = h.recorder.completeMs.quantiles([0.5, 0.99])!;
  t.diagnostic(`clip complete -> file recorded (mux, write, fsync, rename): p50 ${q[0]!.toFixed(1)} ms, p99 ${q[1]!.toFixed(1)} ms over ${s.written} 10 s 1080p clips; event end -> on disk = post-roll (5 s) + that`);
  t.diagnostic(`CPU (feeding, muxing, hashing, writing) ${((used.user + used.system) / 1000 / videoS).toFixed(2)} ms per second of 1080p 4 Mbit/s video`);
  assert.equal(s.written, 20);
  const first = h.files[0]!;
  const d = await decodeMp4(first.path);
  assert.equal(d.frames, 10 * fps + 1);
  assert.ok(d.firstIsKey);
});

test('a clip left unfinished by a killed daemon (.mp4.tmp) is removed at start and named in the log', async (t) => {
  const storage = await tempDir(t);
  mkdirSync(path.join(storage, 'evidence'));
  writeFileSync(path.join(storage, 'evidence', 'killed.mp4.tmp'), 'half a clip');
  writeFileSync(path.join(storage, 'evidence', 'kept.mp4'), 'a finished clip');
  const h = await harness(t, { storage });
  assert.deepEqual(readdirSync(path.join(storage, 'evidence')), ['kept.mp4']);
  assert.ok(h.lines.some((l) => l.msg === 'removed an event clip left unfinished by the last run' && l['event'] === 'killed'));
});
