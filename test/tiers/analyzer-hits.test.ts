import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ZoneRule } from '../../daemon/analytics/rules/index.js';
import type { RuleHit } from '../../daemon/analytics/rules/types.js';
import { StreamAnalyzer } from '../../daemon/analytics/stream-analyzer.js';
import { Tracker } from '../../daemon/analytics/tracker/index.js';
import { zoneRuleSchema } from '../../daemon/config/schema.js';
import { silentLogger } from '../../daemon/log.js';
import type { Frame } from '../../daemon/video/frame.js';

test('every hit carries its own frame and the wall-clock time that frame\'s inference finished', async () => {
  const frames: Frame[] = [0, 1, 2, 3, 4, 5, 6].map((seq) => ({
    streamId: 's', seq, ts: seq * 100, format: 'BGRx', width: 2, height: 2, data: Buffer.alloc(16, seq), sourceWidth: 1000, sourceHeight: 1000,
  }));
  const detectedAt: number[] = [];
  const hits: RuleHit[] = [];
  const analyzer = new StreamAnalyzer({
    streamId: 's',
    source: { async* frames() { for (const f of frames) { await Promise.resolve(); yield f; } } },
    // Person 1 inside the zone from the first frame, person 2 from frame 3; inference takes 20 ms.
    detector: {
      detect: async (f) => {
        await new Promise((r) => setTimeout(r, 20));
        detectedAt.push(performance.timeOrigin + performance.now());
        const people = [{ classId: 0, label: 'person', score: 0.9, box: [290, 200, 310, 300] as [number, number, number, number] }];
        if (f.seq >= 3) people.push({ classId: 0, label: 'person', score: 0.9, box: [690, 200, 710, 300] });
        return people;
      },
    },
    motion: null, tracker: new Tracker(), log: silentLogger(),
    rules: [new ZoneRule(zoneRuleSchema.parse({ id: 'z', stream: 's', kind: 'zone', classes: ['person'], zone: [[100, 100], [900, 100], [900, 500], [100, 500]] }))],
    sink: { record: (h) => { hits.push(h); return `e${hits.length}`; } },
  });
  await analyzer.run(new AbortController().signal);
  // One enter each, on the frame where the tracker confirmed that person (a later one for person 2).
  assert.equal(hits.length, 2);
  const seqs = hits.map((h) => h.frame?.seq ?? -1);
  assert.ok(seqs[0]! < seqs[1]! && seqs[1]! >= 3, `frames ${seqs.join(', ')}`);
  assert.equal(hits[0]?.frame, frames[seqs[0]!], 'the frame itself, not a copy: the sink copies what it keeps');
  for (const h of hits) {
    const seq = h.frame!.seq;
    // After that frame's detect() resolved, before the next frame's did (each takes 20 ms).
    const next = detectedAt[seq + 1] ?? Number.POSITIVE_INFINITY;
    assert.ok(h.inferredAt! >= detectedAt[seq]! && h.inferredAt! < next, `frame ${seq}: ${h.inferredAt! - detectedAt[seq]!} ms after its detect`);
  }
});
