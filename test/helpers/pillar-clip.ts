import assert from 'node:assert/strict';
import type { Rule, RuleOutput } from '../../daemon/analytics/rules/types.js';
import { Tracker, type Look, type TrackerFrame } from '../../daemon/analytics/tracker/index.js';
import type { Detector } from '../../daemon/inference/detector.js';
import type { Detection } from '../../daemon/inference/types.js';
import type { Frame } from '../../daemon/video/frame.js';
import type { VideoStream } from '../../daemon/video/stream.js';

/**
 * The occlusion tests' edit of one-by-one-person-detection.mp4 at 5 fps: from 23.7 to 25.5 s a
 * grey pillar covers x 300-620 (source pixels) of the decoded frames, so person 2, walking in
 * from the bottom left, is last seen at 23.6 s and next at 25.6 s, while their lost track runs on
 * at walking speed. Motion alone cannot re-find them; the appearance cue can.
 */
export const PILLAR_FPS = 5;
export const HIDDEN_MS: readonly [number, number] = [23_700, 25_500];
const PILLAR = { x1: 300, x2: 620 };

/** A copy of the frame with the pillar painted over, in analysis pixels. */
export function pillarOver(frame: Frame): Frame {
  const data = Buffer.from(frame.data);
  const sx = frame.width / frame.sourceWidth;
  const x1 = Math.floor(PILLAR.x1 * sx);
  const x2 = Math.ceil(PILLAR.x2 * sx);
  for (let y = 0; y < frame.height; y++) data.fill(128, (y * frame.width + x1) * 4, (y * frame.width + x2) * 4);
  return { ...frame, data };
}

/** The clip's frames up to `endMs` of clip time, stamped from `t0`, the pillar painted while it stands. */
export async function* pillaredFrames(video: VideoStream, t0: number, endMs: number): AsyncIterable<Frame> {
  const frameMs = 1000 / PILLAR_FPS;
  for (let f = await video.next(); f; f = await video.next()) {
    const clip = f.seq * frameMs;
    if (clip > endMs) return;
    const frame = { ...f, ts: t0 + clip };
    yield clip >= HIDDEN_MS[0] && clip <= HIDDEN_MS[1] ? pillarOver(frame) : frame;
  }
}

/** The analyzer's tracker, keeping what it answered for each frame. */
export class RecordingTracker extends Tracker {
  readonly answers: { ts: number; frame: TrackerFrame }[] = [];
  override async updateSeeing(ts: number, detections: readonly Detection[], look: Look): Promise<TrackerFrame> {
    const frame = await super.updateSeeing(ts, detections, look);
    this.answers.push({ ts, frame });
    return frame;
  }
}

/** `detector`, keeping what it found in each frame in `seen`. */
export function watchingDetector(detector: Detector, seen: { ts: number; detections: Detection[] }[]): Detector {
  return {
    info: detector.info, labels: detector.labels, inputSize: () => detector.inputSize(), close: () => detector.close(),
    detect: async (frame: Frame) => {
      const found = await detector.detect(frame);
      seen.push({ ts: frame.ts, detections: found });
      return found;
    },
  };
}

/** What the detector saw, frame by frame (`watchingDetector`'s record). */
export type Seen = readonly { ts: number; detections: Detection[] }[];

/**
 * Checks that the pillar hid person 2 from the detector for its nine frames and that the
 * analyzer's tracker followed them up to it, and returns the id they had before it.
 */
export function idBeforePillar(seen: Seen, tracker: RecordingTracker, t0: number): number {
  const inClip = (ts: number): number => ts - t0;
  const hidden = seen.filter((s) => inClip(s.ts) >= HIDDEN_MS[0] && inClip(s.ts) <= HIDDEN_MS[1]);
  assert.equal(hidden.length, 9, 'nine frames behind the pillar: 23.8 … 25.4 s');
  assert.ok(hidden.every((s) => !s.detections.some((d) => d.label === 'person' && d.score >= 0.4)), 'the pillar hides the person from the detector');
  const lastBefore = tracker.answers.filter((a) => inClip(a.ts) < HIDDEN_MS[0] && a.frame.tracks.length > 0).at(-1);
  assert.ok(lastBefore && inClip(lastBefore.ts) > 23_000, `the person is tracked before the pillar (last at ${lastBefore ? inClip(lastBefore.ts) / 1000 : '-'} s)`);
  return lastBefore.frame.tracks[0]!.id;
}

/**
 * The same detections through another tracker and a fresh rule, frame by frame as the analyzer
 * feeds them: the counterfactual each occlusion test compares the stream's outcome with.
 */
export function replaySeen(seen: Seen, tracker: Tracker, rule: Rule): RuleOutput[] {
  const outs: RuleOutput[] = [];
  for (const s of seen) {
    const frame = tracker.update(s.ts, s.detections);
    outs.push(...rule.evaluate({ ts: s.ts, detections: s.detections, tracks: frame.tracks, lost: frame.lost, removed: frame.removed,
      sourceWidth: 768, sourceHeight: 432 }));
  }
  return outs;
}
