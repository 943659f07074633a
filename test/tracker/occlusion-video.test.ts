import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ActivityEnd } from '../../daemon/analytics/ports.js';
import { ZoneRule } from '../../daemon/analytics/rules/index.js';
import type { RuleHit } from '../../daemon/analytics/rules/types.js';
import { StreamAnalyzer } from '../../daemon/analytics/stream-analyzer.js';
import { Tracker } from '../../daemon/analytics/tracker/index.js';
import { zoneRuleSchema } from '../../daemon/config/schema.js';
import { trackOf, triggerOf } from '../../daemon/events/event-kinds.js';
import type { Detector } from '../../daemon/inference/detector.js';
import type { Detection } from '../../daemon/inference/types.js';
import type { Frame } from '../../daemon/video/frame.js';
import { replaySeen } from '../helpers/pillar-clip.js';
import { inClipTime, openRoomClip } from '../helpers/room-clip.js';

/**
 * one-by-one-person-detection.mp4 (see test/rules/dwell-video.test.ts): person 2 stands at the
 * stand from about 24 to 44 s. Here a pillar hides them for 2 s: from 30.0 to 31.5 s of the clip
 * the detector sees nobody (four analysed frames at 2 fps). The tracker keeps the lost track on
 * its predicted path and re-finds it at 32 s with the same id, so the zone stay is one enter…exit
 * and the dwell (13 s) still opens on that track. Fed the same detections, a tracker that forgets
 * lost tracks after 1 s gives person 2 a second track: a second enter and no dwell.
 */
const FPS = 2;
const FRAME_MS = 1000 / FPS;
const HIDDEN: [number, number] = [30_000, 31_500];

const stand = (): ZoneRule => new ZoneRule(zoneRuleSchema.parse({
  id: 'stand', stream: 'room', kind: 'zone', classes: ['person'], min_score: 0.4,
  zone: [[370, 340], [560, 340], [560, 425], [370, 425]], events: ['enter', 'dwell'], dwell_s: 13,
}));

test('a person hidden for 2 s keeps the id: the zone stay and the dwell survive (real video, NanoDet-m)', async (t) => {
  const { detector, video, config, log } = await openRoomClip(t, FPS);

  const t0 = Date.UTC(2024, 0, 1);
  const seen: { ts: number; detections: Detection[] }[] = [];
  const pillar: Detector = {
    info: detector.info, labels: detector.labels, inputSize: () => detector.inputSize(), close: () => detector.close(),
    detect: async (frame: Frame) => {
      const clip = frame.ts - t0;
      const found = clip >= HIDDEN[0] && clip <= HIDDEN[1] ? [] : await detector.detect(frame);
      seen.push({ ts: frame.ts, detections: found });
      return found;
    },
  };
  const starts: RuleHit[] = [];
  const ends: ActivityEnd[] = [];
  const analyzer = new StreamAnalyzer({
    streamId: 'room',
    source: { frames: () => inClipTime(video, t0, FRAME_MS) },
    detector: pillar, motion: null, rules: [stand()], tracker: new Tracker(config.tracker), log,
    sink: {
      record: (h) => { starts.push(h); return `${triggerOf(h.facts)}-${starts.length}`; },
      end: (e) => { ends.push(e); },
    },
  });
  await analyzer.run(new AbortController().signal);

  const sec = (ts: number): number => (ts - t0) / 1000;
  const story = starts.map((h) => `${sec(h.ts).toFixed(1)} s ${triggerOf(h.facts)} track ${trackOf(h.facts)}`).join('; ');
  t.diagnostic(`${analyzer.stats.framesAnalysed} frames: ${story}`);
  assert.ok(seen.filter((s) => s.detections.length === 0 && sec(s.ts) >= 30 && sec(s.ts) <= 31.5).length === 4, 'four frames hidden');

  const enters = starts.filter((h) => triggerOf(h.facts) === 'enter');
  const dwells = starts.filter((h) => triggerOf(h.facts) === 'dwell');
  assert.equal(enters.length, 6, story);
  assert.equal(dwells.length, 3, story);
  const second = enters[1]!;
  assert.ok(sec(second.ts) < 30, `person 2 enters before the pillar, at ${sec(second.ts)} s`);
  const end = ends.find((e) => e.eventId === `enter-${starts.indexOf(second) + 1}`);
  assert.ok(end && sec(end.ts) > 40, `person 2's stay ends when they leave, not behind the pillar: ${end ? sec(end.ts) : 'open'} s`);
  assert.equal(trackOf(dwells[0]!.facts), trackOf(second.facts), 'the dwell opens on the track that entered before the pillar');

  // The same detections through a tracker that forgets lost tracks after 1 s: the stay breaks.
  const forgetful = new Tracker({ ...config.tracker, max_lost_ms: 1000 });
  const rule = stand();
  const outs = replaySeen(seen, forgetful, rule);
  const brokenEnters = outs.filter((o) => o.type === 'start' && triggerOf(o.hit.facts) === 'enter');
  assert.ok(brokenEnters.length > 6, `with max_lost_ms 1000: ${brokenEnters.length} enters`);
});
