import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ZoneRule } from '../../daemon/analytics/rules/index.js';
import { StreamAnalyzer } from '../../daemon/analytics/stream-analyzer.js';
import { Tracker } from '../../daemon/analytics/tracker/index.js';
import type { EventSink } from '../../daemon/analytics/ports.js';
import { zoneRuleSchema } from '../../daemon/config/schema.js';
import type { Detection } from '../../daemon/inference/types.js';
import { silentLogger } from '../../daemon/log.js';
import type { Frame } from '../../daemon/video/frame.js';

const frame = (seq: number): Frame => ({
  streamId: 's', seq, ts: seq * 100, format: 'BGRx', width: 2, height: 2, data: Buffer.alloc(16), sourceWidth: 1000, sourceHeight: 1000,
});

/** A person walking right 10 px a frame, from x = 50. */
const walker = (seq: number): Detection[] => {
  const x = 50 + 10 * seq;
  return [{ classId: 0, label: 'person', score: 0.9, box: [x - 20, 220, x + 20, 300] }];
};

const zone = (id: string, x0: number, x1: number, events: ('enter' | 'exit')[] = ['enter']): ZoneRule =>
  new ZoneRule(zoneRuleSchema.parse({ id, stream: 's', kind: 'zone', classes: ['person'], zone: [[x0, 100], [x1, 100], [x1, 500], [x0, 500]], events }));

test('setRules during a frame waits for its end; kept rules keep their activities, changed and removed ones end', async () => {
  const log: string[] = [];
  let n = 0;
  const sink: EventSink = {
    record: (hit) => {
      n += 1;
      log.push(`start e${n} ${hit.ruleId} @${hit.ts}`);
      return `e${n}`;
    },
    end: (e) => { log.push(`end ${e.eventId} ${e.ruleId} @${e.ts} ${e.reason}`); },
  };
  const door = zone('door', 100, 500);
  const far = zone('far', 605, 900);
  const doorWider = zone('door', 100, 560);
  const gone = zone('gone', 0, 1000);
  const all = zone('all', 0, 1000);
  let analyzer: StreamAnalyzer | null = null;
  async function* frames(): AsyncIterable<Frame> {
    for (let i = 0; i <= 70; i++) {
      await Promise.resolve();
      yield frame(i);
    }
  }
  analyzer = new StreamAnalyzer({
    streamId: 's', source: { frames }, motion: null, tracker: new Tracker(), sink, log: silentLogger(), rules: [door, far, gone, all],
    detector: {
      detect: (f) => {
        // Asked while frame 10 is being analysed: must apply after it, so the ends carry frame 10's time.
        if (f.seq === 10) analyzer?.setRules([far, doorWider, all]);
        return Promise.resolve(walker(f.seq));
      },
    },
  });
  await analyzer.run(new AbortController().signal);

  assert.deepEqual(log, [
    'start e1 gone @0',
    'start e2 all @0',
    'start e3 door @600',
    // frame 10 was judged by the old set; then gone (removed) and door (changed) end at its time
    'end e1 gone @1000 rule_removed',
    'end e3 door @1000 rule_changed',
    // the changed rule is a new rule: the person already inside enters it at the next frame
    'start e4 door @1100',
    'end e4 door @5200 exit',
    'start e5 far @5700', // one frame after crossing the edge: zones enter only past their margin (zone.margin, 8 px)
    // all and far were kept, state and all: all's activity from frame 0 runs on to the end
    'end e2 all @7000 stream_ended',
    'end e5 far @7000 stream_ended',
  ]);
});

test('setRules between frames applies at once, and a tracker can be handed over with the rules', async () => {
  const starts: string[] = [];
  const sink: EventSink = { record: (hit) => { starts.push(`${hit.ruleId} @${hit.ts}`); return String(starts.length); } };
  let seq = 0;
  const analyzer = new StreamAnalyzer({
    streamId: 's', source: { frames: async function* () { await Promise.resolve(); } }, motion: null, tracker: null, sink,
    log: silentLogger(), rules: [], detector: { detect: (f) => Promise.resolve(walker(f.seq)) },
  });
  for (; seq < 10; seq++) await analyzer.process(frame(seq));
  assert.deepEqual(starts, [], 'no rules, no events');
  analyzer.setRules([zone('door', 100, 500)], { tracker: new Tracker() });
  for (; seq < 20; seq++) await analyzer.process(frame(seq));
  // The new tracker confirms tracks seen in its first frame (confirm_at_start), so the person enters at once.
  assert.deepEqual(starts, ['door @1000']);
  assert.equal(analyzer.stats.tracks, 1);
});
