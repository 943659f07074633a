import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRule, PresenceOnFrames, PresenceOnObjects, usesTracks } from '../../daemon/analytics/rules/index.js';
import { StreamAnalyzer } from '../../daemon/analytics/stream-analyzer.js';
import { Tracker } from '../../daemon/analytics/tracker/index.js';
import type { ActivityEnd } from '../../daemon/analytics/ports.js';
import type { RuleHit } from '../../daemon/analytics/rules/types.js';
import { validateConfig } from '../../daemon/config/load.js';
import { presenceRuleSchema } from '../../daemon/config/schema.js';
import { trackOf } from '../../daemon/events/event-kinds.js';
import { inClipTime, openRoomClip } from '../helpers/room-clip.js';
import { at, brief, play } from './tracks.js';

const square = [[100, 100], [500, 100], [500, 500], [100, 500]];
const presence = (extra: Record<string, unknown> = {}): PresenceOnObjects =>
  new PresenceOnObjects(presenceRuleSchema.parse({ id: 'p', stream: 's', kind: 'presence', classes: ['person'], count: 'objects', zone: square, ...extra }));

test('count defaults to frames (no tracker); objects is chosen by config and asks for the tracker', () => {
  const frames = presenceRuleSchema.parse({ id: 'p', stream: 's', kind: 'presence', classes: ['person'] });
  assert.equal(frames.count, 'frames');
  assert.ok(buildRule(frames) instanceof PresenceOnFrames);
  assert.equal(usesTracks(frames), false);
  const objects = presenceRuleSchema.parse({ ...frames, count: 'objects' });
  assert.ok(buildRule(objects) instanceof PresenceOnObjects);
  assert.equal(usesTracks(objects), true);
});

test('a bad count is refused with its path', () => {
  const config = {
    device: { id: 'd', site: 's' }, mqtt: { url: 'mqtt://localhost' }, streams: [{ id: 'cam', uri: 'test://ball' }],
    rules: [{ id: 'p', stream: 'cam', kind: 'presence', classes: ['person'], count: 'people' }],
  };
  assert.throws(() => validateConfig(config, 'vigil.yaml'), /rules\[0\]\.count: Invalid option: expected one of "frames"\|"objects"/);
});

test('one person standing an hour is one presence, however many frames', () => {
  const steps = Array.from({ length: 3600 }, (_, i) => ({ ts: i * 1000, tracks: [at(4, 300 + (i % 5), 300)] }));
  steps.push({ ts: 3_600_000, tracks: [at(4, 800, 300)] });
  const outs = play(presence(), steps);
  assert.deepEqual(brief(outs), ['start t4@0', 'end t4@3600000 exit']);
  const start = outs[0]!;
  assert.ok(start.type === 'start' && start.hit.facts.kind === 'presence' && trackOf(start.hit.facts) === 4);
});

test('two people are two presences; min_frames counts each object\'s own frames', () => {
  const outs = play(presence({ min_frames: 3 }), [
    { ts: 0, tracks: [at(1, 200, 200)] },
    { ts: 100, tracks: [at(1, 200, 200), at(2, 300, 300)] },
    { ts: 200, tracks: [at(1, 200, 200), at(2, 300, 300)] },
    { ts: 300, tracks: [at(1, 200, 200), at(2, 300, 300)] },
    { ts: 400, tracks: [at(2, 300, 300)], removed: [1] },
  ]);
  assert.deepEqual(brief(outs), ['start t1@200', 'start t2@300', 'end t1@400 track_lost']);
});

test('an occluded (lost, still kept) object keeps its presence; outside the zone or another class never counts', () => {
  const outs = play(presence(), [
    { ts: 0, tracks: [at(1, 200, 200), at(2, 800, 800), at(3, 250, 250, { label: 'car' })] },
    { ts: 100, lost: [at(1, 200, 200, { state: 'lost' })] },
    { ts: 2000, lost: [at(1, 200, 200, { state: 'lost' })] },
    { ts: 2100, tracks: [at(1, 210, 200)] },
  ]);
  assert.deepEqual(brief(outs), ['start t1@0']);
});

test('cooldown: an object that leaves and comes back within cooldown_s is not a second presence', () => {
  const outs = play(presence({ cooldown_s: 5 }), [
    { ts: 0, tracks: [at(1, 200, 200)] },
    { ts: 1000, tracks: [at(1, 700, 200)] },
    { ts: 2000, tracks: [at(1, 200, 200)] },
    { ts: 3000, tracks: [at(1, 700, 200)] },
    { ts: 7000, tracks: [at(1, 200, 200)] },
  ]);
  assert.deepEqual(brief(outs), ['start t1@0', 'end t1@1000 exit', 'start t1@7000']);
});

test('a score that flickers under min_score after the object counted does not end its presence', () => {
  const outs = play(presence({ min_score: 0.5 }), [
    { ts: 0, tracks: [at(1, 200, 200, { score: 0.8 })] },
    { ts: 100, tracks: [at(1, 200, 200, { score: 0.3 })] },
    { ts: 200, tracks: [at(1, 200, 200, { score: 0.7 })] },
  ]);
  assert.deepEqual(brief(outs), ['start t1@0']);
});

/**
 * one-by-one-person-detection.mp4 (see dwell-video.test.ts for what is in it): six people, one at
 * a time, stand at a stand whose floor is x 370-560, y 340-425. By objects that is six presences,
 * each closed when its person walks off; by frames (cooldown 0) it is an event per frame someone stands there.
 */
test('one-by-one-person-detection.mp4 → NanoDet-m → tracker: six presences by objects, one per person; by frames, one per frame', async (t) => {
  const fps = 2;
  const { detector, video, config, log } = await openRoomClip(t, fps);

  const stand = [[370, 340], [560, 340], [560, 425], [370, 425]];
  const rule = (id: string, count: string, cooldown: number): ReturnType<typeof buildRule> => buildRule(presenceRuleSchema.parse({
    id, stream: 'room', kind: 'presence', classes: ['person'], min_score: 0.4, zone: stand, count, cooldown_s: cooldown,
  }));
  const t0 = Date.UTC(2024, 0, 1);
  const hits: RuleHit[] = [];
  const ends: ActivityEnd[] = [];
  const analyzer = new StreamAnalyzer({
    streamId: 'room',
    source: { frames: () => inClipTime(video, t0, 1000 / fps) },
    detector, motion: null, rules: [rule('objects', 'objects', 30), rule('frames', 'frames', 0)], tracker: new Tracker(config.tracker), log,
    sink: {
      record: (h) => { hits.push(h); return `${h.ruleId}-${hits.length}`; },
      end: (e) => { ends.push(e); },
    },
  });
  await analyzer.run(new AbortController().signal);

  const sec = (ts: number): number => (ts - t0) / 1000;
  const objects = hits.filter((h) => h.ruleId === 'objects');
  const byFrames = hits.filter((h) => h.ruleId === 'frames');
  const story = objects.map((h) => {
    const end = ends.find((e) => e.eventId === `objects-${hits.indexOf(h) + 1}`);
    return `${sec(h.ts).toFixed(1)}-${end ? `${sec(end.ts).toFixed(1)} ${end.reason}` : 'open'} track ${trackOf(h.facts)}`;
  }).join('; ');
  t.diagnostic(`${analyzer.stats.framesAnalysed} frames; by objects: ${story}; by frames: ${byFrames.length} events`);
  assert.ok(analyzer.stats.framesAnalysed >= 270, `${analyzer.stats.framesAnalysed} frames analysed`);

  assert.equal(objects.length, 6, story);
  const people: [number, number][] = [[7, 19], [23, 44], [51, 69], [75, 86], [93, 119], [124, 136]];
  objects.forEach((h, i) => {
    const [from, to] = people[i]!;
    assert.ok(sec(h.ts) >= from && sec(h.ts) <= to, `person ${i + 1}'s presence starts at ${sec(h.ts)} s`);
    const end = ends.find((e) => e.eventId === `objects-${hits.indexOf(h) + 1}`);
    assert.ok(end, `person ${i + 1}'s presence ends`);
    assert.ok(sec(end.ts) <= to + 3 && (end.reason === 'exit' || end.reason === 'track_lost'), `person ${i + 1}: ${sec(end.ts)} s ${end.reason}`);
  });
  assert.equal(new Set(objects.map((h) => trackOf(h.facts))).size, 6, 'six different tracks');
  // The people stand about 85 s in all: at 2 fps, well over a hundred frames with someone there.
  assert.ok(byFrames.length > 100, `${byFrames.length} frame events`);
});
