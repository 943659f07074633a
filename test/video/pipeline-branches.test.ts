import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseDecoder, staticRegistry } from '../../daemon/video/decoders.js';
import { buildPipeline, type PipelineSpec } from '../../daemon/video/pipeline.js';
import { parseStreamUri } from '../../daemon/video/uri.js';

const software = staticRegistry(['avdec_h264', 'avdec_h265']);
const jetson = staticRegistry(['nvv4l2decoder', 'nvvidconv']);

function spec(uri: string, over: Partial<PipelineSpec> = {}): PipelineSpec {
  return {
    source: parseStreamUri(uri), decoder: chooseDecoder('h264', software), fps: 5,
    analysis: { width: 416, height: 416, resize: 'fit', format: 'BGRx' }, sync: false,
    rtsp: { transport: 'tcp', latencyMs: 200 }, ...over,
  };
}

void test('access-unit branch: after the probe, its own leaky queue, a second parser to MP4 form', () => {
  const { description } = buildPipeline(spec('file:///a.mp4', { accessUnits: true }));
  assert.match(description, / t\. ! queue leaky=downstream max-size-buffers=1 ! fakesink name=probe [^!]*/);
  assert.match(description, / t\. ! queue leaky=downstream max-size-buffers=240 max-size-bytes=16777216 max-size-time=0 ! h264parse ! video\/x-h264,stream-format=avc,alignment=au ! appsink name=au /);
  assert.ok(description.indexOf('name=probe') < description.indexOf('name=au'), 'the probe stays the first branch');
  const h265 = buildPipeline(spec('file:///a.mp4', { accessUnits: true, decoder: chooseDecoder('h265', software) })).description;
  assert.match(h265, /h265parse ! video\/x-h265,stream-format=hvc1,alignment=au ! appsink name=au/);
  // Jetson: the first parser gives byte-stream for nvv4l2decoder; the branch converts again.
  const j = buildPipeline(spec('file:///a.mp4', { accessUnits: true, decoder: chooseDecoder('h264', jetson) })).description;
  assert.match(j, /byte-stream,alignment=au ! queue max-size-buffers=2 ! tee name=t .* t\. ! queue leaky=downstream max-size-buffers=240 [^!]*! h264parse ! video\/x-h264,stream-format=avc/);
});

void test('test sources get no access-unit branch even when asked', () => {
  const { description } = buildPipeline(spec('test://ball', { decoder: null, accessUnits: true }));
  assert.doesNotMatch(description, /name=au/);
});

void test('full-resolution branch: teed after the decoder and its rate limit, before the analysis, newest frame only, I420', () => {
  const { description } = buildPipeline(spec('file:///a.mp4', { fullFrames: true }));
  assert.match(description, / t\. ! avdec_h264 max-threads=1 ! videorate drop-only=true max-rate=5 ! tee name=d d\. ! queue leaky=downstream max-size-buffers=1 ! videoconvert ! video\/x-raw,format=I420 ! fakesink name=full enable-last-sample=true sync=false async=false d\. ! videoscale /);
  const j = buildPipeline(spec('file:///a.mp4', { fullFrames: true, decoder: chooseDecoder('h264', jetson) })).description;
  assert.match(j, /nvv4l2decoder ! videorate [^!]*! tee name=d d\. ! queue leaky=downstream max-size-buffers=1 ! nvvidconv ! video\/x-raw,format=I420 ! fakesink name=full .* d\. ! nvvidconv ! video\/x-raw,format=BGRx/);
  const raw = buildPipeline(spec('test://ball', { decoder: null, fullFrames: true })).description;
  assert.match(raw, / t\. ! videorate [^!]*! tee name=d d\. ! queue [^!]*! videoconvert ! video\/x-raw,format=I420 ! fakesink name=full .* d\. ! videoscale/);
  assert.doesNotMatch(buildPipeline(spec('file:///a.mp4')).description, /name=full|name=au/, 'neither unless asked');
});
