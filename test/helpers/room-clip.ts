import path from 'node:path';
import type { TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { streamSchema, type StreamConfig } from '../../daemon/config/schema.js';
import { loadDetector, type Detector } from '../../daemon/inference/detector.js';
import { silentLogger, type Logger } from '../../daemon/log.js';
import { VideoStream } from '../../daemon/video/stream.js';
import { repoRoot, sharedPath } from './shared.js';

/**
 * one-by-one-person-detection.mp4 as stream `room`, decoded at `fps` as fast as it goes, with
 * NanoDet-m on one CPU thread at its input size: the clip the rule and tracker tests on real
 * video share (six people, one at a time, at a stand whose floor is x 370-560, y 340-425).
 * Both are closed when the test ends.
 */
export async function openRoomClip(t: TestContext, fps: number): Promise<{ detector: Detector; video: VideoStream; config: StreamConfig; log: Logger }> {
  const log = silentLogger();
  const detector = await loadDetector({
    name: 'nanodet-m', manifestPath: path.join(repoRoot, 'models', 'nanodet-m.json'), modelsDir: sharedPath('models'),
    providers: ['cpu'], threads: 1,
  }, log);
  t.after(() => detector.close());
  const size = detector.inputSize();
  const config = streamSchema.parse({
    id: 'room', uri: pathToFileURL(sharedPath('video', 'one-by-one-person-detection.mp4')).href, model: 'nanodet-m', realtime: false, fps,
  });
  const video = new VideoStream(config, { log, analysis: { width: size.width, height: size.height, resize: size.letterbox ? 'fit' : 'stretch', format: 'BGRx' } });
  await video.start(new AbortController().signal);
  t.after(() => video.stop());
  return { detector, video, config, log };
}
