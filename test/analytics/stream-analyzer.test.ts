import assert from 'node:assert/strict';
import { test } from 'node:test';
import { presenceRuleSchema } from '../../daemon/config/schema.js';
import { PresenceOnFrames, type RuleHit } from '../../daemon/analytics/rules/index.js';
import { StreamAnalyzer } from '../../daemon/analytics/stream-analyzer.js';
import type { Detection } from '../../daemon/inference/types.js';
import { silentLogger } from '../../daemon/log.js';
import type { Frame } from '../../daemon/video/frame.js';
import { waitFor } from '../helpers/shared.js';

const frame = (seq: number): Frame => ({
  streamId: 's', seq, ts: seq * 1000, format: 'BGRx', width: 2, height: 2, data: Buffer.alloc(16),
  sourceWidth: 2, sourceHeight: 2,
});

async function* framesOf(n: number): AsyncIterable<Frame> {
  for (let i = 1; i <= n; i++) {
    await Promise.resolve(); // hand control back as a real pipeline would between frames
    yield frame(i);
  }
}

const person: Detection = { classId: 0, label: 'person', score: 0.9, box: [0, 0, 1, 1] };

test('an inference failure costs one frame, not the stream', async () => {
  const hits: RuleHit[] = [];
  let calls = 0;
  const analyzer = new StreamAnalyzer({
    streamId: 's',
    source: { frames: () => framesOf(4) },
    detector: {
      detect: () => {
        calls += 1;
        return calls === 2 ? Promise.reject(new Error('boom')) : Promise.resolve([person]);
      },
    },
    motion: null,
    rules: [new PresenceOnFrames(presenceRuleSchema.parse({ id: 'r', stream: 's', kind: 'presence', classes: ['person'], cooldown_s: 0 }))],
    sink: { record: (h) => { hits.push(h); return `e${hits.length}`; } },
    log: silentLogger(),
  });
  await analyzer.run(new AbortController().signal);
  assert.equal(analyzer.stats.framesAnalysed, 4);
  assert.equal(analyzer.stats.inferenceErrors, 1);
  assert.deepEqual(hits.map((h) => h.ts), [1000, 3000, 4000]);
});

test('a store failure is counted and the loop goes on', async () => {
  const analyzer = new StreamAnalyzer({
    streamId: 's', source: { frames: () => framesOf(3) },
    detector: { detect: () => Promise.resolve([person]) }, motion: null,
    rules: [new PresenceOnFrames(presenceRuleSchema.parse({ id: 'r', stream: 's', kind: 'presence', classes: ['person'], cooldown_s: 0 }))],
    sink: { record: () => { throw new Error('disk full'); } },
    log: silentLogger(),
  });
  await analyzer.run(new AbortController().signal);
  assert.equal(analyzer.stats.eventErrors, 3);
  assert.equal(analyzer.stats.framesAnalysed, 3);
});

test('without a model, motion onsets become info events', async () => {
  const hits: RuleHit[] = [];
  const pattern = [false, true, true, false, true, true, true, false, false, true];
  const analyzer = new StreamAnalyzer({
    streamId: 's', source: { frames: () => framesOf(pattern.length) }, detector: null,
    motion: { detect: (f) => ({ motion: pattern[f.seq - 1] ?? false, score: 0.1, regions: [{ x: 1, y: 2, width: 3, height: 4, cells: 2 }] }) },
    rules: [], sink: { record: (h) => { hits.push(h); return 'id'; } }, log: silentLogger(),
    motionEventIntervalMs: 3500,
  });
  await analyzer.run(new AbortController().signal);
  // onsets at frames 2, 5 and 10; the one at 5 comes within 3.5 s of frame 2's event
  assert.deepEqual(hits.map((h) => h.ts), [2000, 10000]);
  assert.ok(hits.every((h) => h.ruleId === 'motion' && h.severity === 'info' && h.objects[0]?.label === 'motion'));
  assert.deepEqual(hits[0]?.objects[0]?.box, [1, 2, 4, 6]);
});

test('stats read mid-inference account for every analysed frame: the one at the detector is pending', async () => {
  const release: Array<() => void> = [];
  const analyzer = new StreamAnalyzer({
    streamId: 's', source: { frames: () => framesOf(3) },
    detector: { detect: () => new Promise<Detection[]>((resolve) => release.push(() => resolve([person]))) },
    motion: null, rules: [], sink: { record: () => 'id' }, log: silentLogger(), pipelineDepth: 2,
  });
  const seen: Array<{ analysed: number; inferences: number; pending: number }> = [];
  const running = analyzer.run(new AbortController().signal);
  for (let i = 0; i < 3; i++) {
    await waitFor('a frame at the detector', () => (release.length > 0 ? true : undefined), 5000, 1);
    const s = analyzer.stats;
    seen.push({ analysed: s.framesAnalysed, inferences: s.inferences, pending: s.pendingInferences });
    release.shift()?.();
  }
  await running;
  for (const s of seen) assert.equal(s.analysed, s.inferences + s.pending, JSON.stringify(seen));
  assert.ok(seen.some((s) => s.pending > 0), JSON.stringify(seen));
  assert.equal(analyzer.stats.pendingInferences, 0);
  assert.equal(analyzer.stats.inferences, 3);
});
