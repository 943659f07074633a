import path from 'node:path';
import type { TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { streamSchema, type ConfigInput, type StreamConfig } from '../../daemon/config/schema.js';
import { loadDetector, type Detector } from '../../daemon/inference/detector.js';
import { silentLogger, type Logger } from '../../daemon/log.js';
import type { Frame } from '../../daemon/video/frame.js';
import { VideoStream } from '../../daemon/video/stream.js';
import { repoRoot, sharedPath } from './shared.js';

/**
 * one-by-one-person-detection.mp4 as stream `room`, decoded at `fps` as fast as it goes, with
 * NanoDet-m on one CPU thread at its input size: the clip the rule and tracker tests on real
 * video share (six people, one at a time, at a stand whose floor is x 370-560, y 340-425).
 * Both are closed when the test ends.
 */
export async function openRoomClip(t: TestContext, fps: number): Promise<{ detector: Detector; video: VideoStream; config: StreamConfig; log: Logger }> {
  return openNanodetClip(t, 'room', sharedPath('video', 'one-by-one-person-detection.mp4'), fps, silentLogger());
}

/** A clip file as stream `id`, decoded at `fps` as fast as it goes, with NanoDet-m on one CPU thread at its input size; both closed when the test ends. */
export async function openNanodetClip(t: TestContext, id: string, file: string, fps: number, log: Logger):
  Promise<{ detector: Detector; video: VideoStream; config: StreamConfig; log: Logger }> {
  const detector = await loadDetector({
    name: 'nanodet-m', manifestPath: path.join(repoRoot, 'models', 'nanodet-m.json'), modelsDir: sharedPath('models'),
    providers: ['cpu'], threads: 1,
  }, log);
  t.after(() => detector.close());
  const size = detector.inputSize();
  const config = streamSchema.parse({ id, uri: pathToFileURL(file).href, model: 'nanodet-m', realtime: false, fps });
  const video = new VideoStream(config, { log, analysis: { width: size.width, height: size.height, resize: size.letterbox ? 'fit' : 'stretch', format: 'BGRx' } });
  await video.start(new AbortController().signal);
  t.after(() => video.stop());
  return { detector, video, config, log };
}

/**
 * vigild's config for the same clip played in real time as stream `room` (NanoDet-m at 5 fps): a
 * zone rule `stand` on the stand's floor (alert, enter), clips with a 3 s pre-roll and 2 s post-roll.
 */
export function roomZoneConfig(storage: string, brokerUrl: string): ConfigInput {
  return {
    device: { id: 'room-1', site: 'lab' }, storage: { dir: storage }, mqtt: { url: brokerUrl },
    models_dir: sharedPath('models'),
    models: [{ name: 'nanodet-m', manifest: path.join(repoRoot, 'models', 'nanodet-m.json'), providers: ['cpu'] }],
    telemetry: { prometheus: { enabled: false } },
    streams: [{ id: 'room', uri: pathToFileURL(sharedPath('video', 'one-by-one-person-detection.mp4')).href, model: 'nanodet-m', fps: 5, realtime: true }],
    rules: [{
      id: 'stand', stream: 'room', kind: 'zone', classes: ['person'], min_score: 0.4, severity: 'alert',
      zone: [[370, 340], [560, 340], [560, 425], [370, 425]], events: ['enter'],
    }],
    evidence: { clips: { pre_roll_s: 3, post_roll_s: 2 } },
  };
}

/**
 * The stream's frames stamped with clip time (`t0` plus frame number × `frameMs`) instead of decode
 * time: rules that measure seconds (dwell, stays, lost tracks) then count the clip's seconds, however
 * fast it decodes.
 */
export async function* inClipTime(video: VideoStream, t0: number, frameMs: number): AsyncIterable<Frame> {
  for (let f = await video.next(); f; f = await video.next()) yield { ...f, ts: t0 + f.seq * frameMs };
}
