import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createPipeline, isSampleValue } from '../../daemon/video/gst.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const rssMiB = (): number => process.memoryUsage().rss / 2 ** 20;

/**
 * gstreamer-superficial's property getter left every value it read initialised (no g_value_unset),
 * so each read of a sink's `last-sample` kept that sample and its frame alive for good: the stream's
 * per-frame size probe and every full-resolution snapshot leaked a buffer. scripts/patches/ fixes the
 * binding at install (package.json postinstall); this fails if that patch is not applied.
 */
test('reading a sink\'s last-sample frees the sample: 150 reads of 1080p frames keep memory flat', async (t) => {
  const pipeline = createPipeline('videotestsrc is-live=false ! video/x-raw,format=I420,width=1920,height=1080 ! fakesink name=f enable-last-sample=true sync=false async=false');
  t.after(() => pipeline.stop());
  pipeline.play();
  const sink = pipeline.findChild('f');
  assert.ok(sink);
  const read = (): number => {
    const s = sink['last-sample'];
    return isSampleValue(s) && s.buf ? s.buf.length : 0;
  };
  const deadline = Date.now() + 10_000;
  while (read() === 0) {
    assert.ok(Date.now() < deadline, 'no frame reached the sink');
    await new Promise((r) => setImmediate(r));
  }
  gc();
  const before = rssMiB();
  let bytes = 0;
  for (let i = 0; i < 150; i++) {
    bytes += read();
    // Other frames arrive meanwhile: each read holds a different sample, as the stream's reads do.
    await new Promise((r) => setTimeout(r, 2));
  }
  gc();
  const grown = rssMiB() - before;
  assert.ok(bytes >= 150 * 3_110_400, 'every read returned a whole frame');
  // Leaking, 150 reads of 3 MiB frames grew RSS by 150-450 MiB here; fixed, by under 20.
  assert.ok(grown < 60, `RSS grew ${grown.toFixed(0)} MiB over 150 reads`);
});
