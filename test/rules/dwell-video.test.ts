import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ZoneRule } from '../../daemon/analytics/rules/index.js';
import { StreamAnalyzer } from '../../daemon/analytics/stream-analyzer.js';
import { Tracker } from '../../daemon/analytics/tracker/index.js';
import type { ActivityEnd } from '../../daemon/analytics/ports.js';
import type { RuleHit } from '../../daemon/analytics/rules/types.js';
import { trackOf, triggerOf } from '../../daemon/events/event-kinds.js';
import { zoneRuleSchema } from '../../daemon/config/schema.js';
import { inClipTime, openRoomClip } from '../helpers/room-clip.js';

/**
 * one-by-one-person-detection.mp4 (768×432, 10 fps, 139 s), looked at once by hand (a frame every
 * 10 s) and through NanoDet-m + the tracker at 5 fps: six people, one at a time, walk in from the
 * camera's side (bottom edge), stop in front of a stand in the middle of the room and read, then
 * walk off to the right. Where they stand, their feet (the boxes' bottom centre) are at x 430-490,
 * y 375-400. How long each one stands there, by the tracks:
 *
 *   person  in the clip   standing
 *   1        7-19 s       ~10-11 s
 *   2       23-44 s       ~19-20 s
 *   3       51-69 s       ~15-16 s
 *   4       75-86 s        ~8 s
 *   5       93-119 s      ~23-24 s
 *   6      124-136 s       ~8-9 s
 *
 * A zone around the stand with dwell_s 13 must therefore open a dwell for persons 2, 3 and 5 and
 * not for 1, 4 and 6 (nearest to the threshold: person 1 at about 11.5 s and person 3 at about
 * 16 s), and each of the six stays is one enter…exit activity: six enters, each closed by an exit.
 */

const FPS = 2;
const FRAME_MS = 1000 / FPS;

test('one-by-one-person-detection.mp4 → NanoDet-m → tracker → zone: 6 stays, dwell for the 3 who stand longer than 13 s', async (t) => {
  const { detector, video, config, log } = await openRoomClip(t, FPS);

  const rule = new ZoneRule(zoneRuleSchema.parse({
    id: 'stand', stream: 'room', kind: 'zone', classes: ['person'], min_score: 0.4,
    zone: [[370, 340], [560, 340], [560, 425], [370, 425]], events: ['enter', 'dwell'], dwell_s: 13,
  }));
  const t0 = Date.UTC(2024, 0, 1);
  const starts: RuleHit[] = [];
  const ends: ActivityEnd[] = [];
  const analyzer = new StreamAnalyzer({
    streamId: 'room',
    // Clip time, not decode time: dwell is measured in the clip's seconds.
    source: { frames: () => inClipTime(video, t0, FRAME_MS) },
    detector, motion: null, rules: [rule], tracker: new Tracker(config.tracker), log,
    sink: {
      record: (h) => { starts.push(h); return `${triggerOf(h.facts)}-${starts.length}`; },
      end: (e) => { ends.push(e); },
    },
  });
  await analyzer.run(new AbortController().signal);

  const at = (ts: number): number => (ts - t0) / 1000;
  const story = [
    ...starts.map((h) => `${at(h.ts).toFixed(1)} s ${triggerOf(h.facts)} track ${trackOf(h.facts)}`),
    ...ends.map((e) => `${at(e.ts).toFixed(1)} s end ${e.eventId} (${e.reason}, ${((e.ts - e.startedTs) / 1000).toFixed(1)} s)`),
  ].join('; ');
  t.diagnostic(`${analyzer.stats.framesAnalysed} frames: ${story}`);
  assert.ok(analyzer.stats.framesAnalysed >= 270, `${analyzer.stats.framesAnalysed} frames analysed`);

  const enters = starts.filter((h) => triggerOf(h.facts) === 'enter');
  const dwells = starts.filter((h) => triggerOf(h.facts) === 'dwell');
  assert.equal(enters.length, 6, story);
  assert.equal(dwells.length, 3, story);
  // The dwells open 13 s into persons 2, 3 and 5's stays: inside their windows in the clip.
  const windows: [number, number][] = [[23, 44], [51, 69], [93, 119]];
  dwells.forEach((h, i) => {
    const [from, to] = windows[i]!;
    assert.ok(at(h.ts) >= from + 13 && at(h.ts) <= to, `dwell ${i + 1} at ${at(h.ts)} s, expected in ${from + 13}-${to} s`);
    assert.ok(h.facts.kind === 'zone' && h.facts.trigger === 'dwell' && h.facts.dwell_s >= 13, JSON.stringify(h.facts));
  });
  // Every activity closes when its person leaves: seen walking out (exit) or, for persons 2 and 3
  // who walk off fastest, lost by the tracker between two frames at 2 fps and removed a couple of
  // seconds later (track_lost) — either way once, within that person's time in the clip.
  assert.equal(ends.length, 9, story);
  const people: [number, number][] = [[7, 19], [23, 44], [51, 69], [75, 86], [93, 119], [124, 136]];
  enters.forEach((h, i) => {
    const [from, to] = people[i]!;
    const end = ends.find((e) => e.eventId === `enter-${starts.indexOf(h) + 1}`);
    assert.ok(end, `the stay of person ${i + 1} ends`);
    assert.ok(at(h.ts) >= from && at(h.ts) <= to, `person ${i + 1} enters at ${at(h.ts)} s`);
    assert.ok(at(end.ts) >= from && at(end.ts) <= to + 3, `person ${i + 1} leaves at ${at(end.ts)} s`);
    assert.ok(end.reason === 'exit' || end.reason === 'track_lost', end.reason);
  });
  // Each dwell belongs to the track of an enter and closes with it.
  for (const d of dwells) {
    const enter = enters.find((e) => trackOf(e.facts) === trackOf(d.facts));
    assert.ok(enter, `dwell of track ${trackOf(d.facts)} has its enter`);
    const endOf = (h: RuleHit): number | undefined => ends.find((e) => e.eventId === `${triggerOf(h.facts)}-${starts.indexOf(h) + 1}`)?.ts;
    assert.equal(endOf(d), endOf(enter));
  }
});
