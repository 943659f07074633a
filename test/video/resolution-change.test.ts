import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ZoneRule } from '../../daemon/analytics/rules/index.js';
import { StreamAnalyzer } from '../../daemon/analytics/stream-analyzer.js';
import { Tracker } from '../../daemon/analytics/tracker/index.js';
import type { ActivityEnd } from '../../daemon/analytics/ports.js';
import type { RuleHit } from '../../daemon/analytics/rules/types.js';
import { zoneRuleSchema } from '../../daemon/config/schema.js';
import type { Box, Detection } from '../../daemon/inference/types.js';
import type { Frame } from '../../daemon/video/frame.js';
import { openNanodetClip } from '../helpers/room-clip.js';
import { sharedPath, tempDir } from '../helpers/shared.js';
import { capturedLogger } from './fixtures.js';

const run = promisify(execFile);

/**
 * A camera that switches resolution mid-stream, made the way one does it: the same scene
 * (person.jpg, 640×424) encoded as H.264 at 3× (1920×1272) and then at 2× (1280×848), the two
 * Annex-B byte streams concatenated, so the second begins with a new SPS and a key frame.
 * Both sizes have the same aspect, so both reach the analysis as the same 416×276 frame: only the
 * source size tells them apart.
 */
async function twoResolutionClip(dir: string, frames: number, fps: number): Promise<string> {
  const parts: Buffer[] = [];
  for (const [w, h] of [[1920, 1272], [1280, 848]] as const) {
    const file = path.join(dir, `person-${w}x${h}.h264`);
    await run('gst-launch-1.0', ['-q',
      'filesrc', `location=${sharedPath('images', 'person.jpg')}`, '!', 'decodebin', '!', 'imagefreeze', `num-buffers=${frames}`, '!',
      'videoconvert', '!', 'videoscale', '!', `video/x-raw,width=${w},height=${h},framerate=${fps}/1`, '!', 'videoconvert', '!',
      'video/x-raw,format=I420', '!', 'x264enc', 'speed-preset=ultrafast', 'tune=zerolatency', `key-int-max=${fps}`, '!',
      'h264parse', '!', 'video/x-h264,stream-format=byte-stream', '!', 'filesink', `location=${file}`], { timeout: 60_000 });
    parts.push(await readFile(file));
  }
  const clip = path.join(dir, 'person-1272p-then-848p.h264');
  await writeFile(clip, Buffer.concat(parts));
  return clip;
}

function iou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/** NanoDet-m's person in person.jpg at 640×424 (detect-images.test.ts, the model's README). */
const PERSON_640: Box = [180, 103, 289, 386];
const scaled = (b: Box, k: number): Box => [b[0] * k, b[1] * k, b[2] * k, b[3] * k];

const FPS = 10;
const FRAMES = 30;

void test('a camera switching from 1920x1272 to 1280x848 mid-stream: boxes, zones and tracks follow the new size', async (t) => {
  const dir = await tempDir(t);
  const clip = await twoResolutionClip(dir, FRAMES, FPS);
  const { log, lines } = capturedLogger('info');
  // Analysed as fast as it decodes (paced): every frame reaches the detector.
  const { detector, video, config } = await openNanodetClip(t, 'cam', clip, FPS, log);

  // Drawn in px for the first size, around the person's feet (3 × (234, 386) = (703, 1158)). At
  // 1280x848 the feet are at (469, 772), outside these numbers: only a rescaled zone holds them.
  const rule = new ZoneRule(zoneRuleSchema.parse({
    id: 'door', stream: 'cam', kind: 'zone', classes: ['person'], units: 'px',
    zone: [[550, 1000], [860, 1000], [860, 1272], [550, 1272]], events: ['enter'],
  }));
  const t0 = Date.UTC(2024, 0, 1);
  const seen: { frame: Pick<Frame, 'width' | 'height' | 'sourceWidth' | 'sourceHeight'>; found: Detection[] }[] = [];
  const starts: RuleHit[] = [];
  const ends: ActivityEnd[] = [];
  const analyzer = new StreamAnalyzer({
    streamId: 'cam',
    source: {
      async* frames(): AsyncIterable<Frame> {
        for (let f = await video.next(); f; f = await video.next()) yield { ...f, ts: t0 + f.seq * (1000 / FPS) };
      },
    },
    // The real detector; what it answered for each frame is kept to check against the frame's size.
    detector: {
      detect: async (frame) => {
        const found = await detector.detect(frame);
        seen.push({ frame: { width: frame.width, height: frame.height, sourceWidth: frame.sourceWidth, sourceHeight: frame.sourceHeight }, found });
        return found;
      },
    },
    motion: null, rules: [rule], tracker: new Tracker(config.tracker), log,
    sink: {
      record: (h, opens) => { starts.push(h); return `${opens === true ? 'start' : 'instant'}-${starts.length}`; },
      end: (e) => { ends.push(e); },
    },
  });
  await analyzer.run(new AbortController().signal);

  const bySize = (w: number): typeof seen => seen.filter((s) => s.frame.sourceWidth === w);
  const first = bySize(1920);
  const second = bySize(1280);
  t.diagnostic(`frames: ${first.length} at 1920x1272, ${second.length} at 1280x848, ${seen.length - first.length - second.length} other; `
    + `status ${JSON.stringify(video.status())}`);
  // Two frames around the change may be withheld as uncertain; every other frame is analysed.
  assert.ok(first.length >= FRAMES - 3 && second.length >= FRAMES - 3, `${first.length} + ${second.length} frames of ${2 * FRAMES}`);
  assert.equal(first.length + second.length, seen.length, 'no frame with another source size');
  assert.equal(video.status().resolutionChanges, 1);
  assert.ok((video.status().framesWithheld ?? 0) <= 2, JSON.stringify(video.status()));

  for (const [group, w, k] of [[first, 1920, 3], [second, 1280, 2]] as const) {
    for (const { frame, found } of group) {
      // The same 416x276 analysis frame for both sizes: the output caps alone could not tell them apart.
      assert.deepEqual([frame.width, frame.height, frame.sourceHeight], [416, 276, w === 1920 ? 1272 : 848]);
      for (const d of found) {
        assert.ok(d.box[0] >= 0 && d.box[1] >= 0 && d.box[2] <= frame.sourceWidth && d.box[3] <= frame.sourceHeight,
          `${d.label} box (${d.box.map((v) => v.toFixed(0)).join(', ')}) beyond the ${frame.sourceWidth}x${frame.sourceHeight} frame`);
      }
      const person = found.filter((d) => d.label === 'person').map((d) => iou(d.box, scaled(PERSON_640, k)));
      assert.ok(Math.max(0, ...person) >= 0.7,
        `at ${w}: no person within IoU 0.7 of ${k} × (${PERSON_640.join(', ')}): ${found.map((d) => `${d.label} (${d.box.map((v) => v.toFixed(0)).join(', ')})`).join('; ')}`);
    }
  }

  // The zone (px, drawn for 1920x1272) holds the person in both sizes; the tracker was reset at the
  // change, so the first stay ends as stream_changed and the person enters again at 1280x848.
  const story = [...starts.map((h) => `start ${h.ts - t0} ms (${h.objects.map((o) => o.box.map((v) => v.toFixed(0)).join(',')).join('; ')})`),
    ...ends.map((e) => `end ${e.eventId} ${e.reason} at ${e.ts - t0} ms`)].join(' | ');
  t.diagnostic(story);
  assert.equal(starts.length, 2, story);
  assert.ok(iou(starts[0]!.objects[0]!.box, scaled(PERSON_640, 3)) >= 0.6, story);
  assert.ok(iou(starts[1]!.objects[0]!.box, scaled(PERSON_640, 2)) >= 0.6, story);
  assert.deepEqual(ends.map((e) => [e.eventId, e.reason]), [['start-1', 'stream_changed'], ['start-2', 'stream_ended']], story);
  assert.equal(analyzer.stats.resolutionChanges, 1);
  assert.match(analyzer.stats.geometryNote ?? '', /rules door use px units and were rescaled from 1920x1272.*units: norm/);
  assert.ok(lines.some((l) => l.includes('source resolution changed') && l.includes('"from":"1920x1272"') && l.includes('"to":"1280x848"')),
    'the stream logs the change');
  assert.ok(lines.some((l) => l.includes('camera resolution changed') && l.includes('"pxRules":["door"]')), 'the analyzer names the px rules');
});
