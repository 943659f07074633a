import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseDecoder, NoDecoderError, staticRegistry } from '../../daemon/video/decoders.js';
import { buildPipeline, quote, type PipelineSpec } from '../../daemon/video/pipeline.js';
import { parseStreamUri } from '../../daemon/video/uri.js';

const jetson = staticRegistry(['nvv4l2decoder', 'nvvidconv', 'nvh264dec', 'avdec_h264', 'avdec_h265']);
const desktop = staticRegistry(['nvh264dec', 'nvh265dec', 'avdec_h264', 'avdec_h265']);
const software = staticRegistry(['avdec_h264', 'avdec_h265']);

function spec(uri: string, over: Partial<PipelineSpec> = {}): PipelineSpec {
  return {
    source: parseStreamUri(uri),
    decoder: chooseDecoder('h264', software),
    fps: 5,
    analysis: { width: 416, height: 416, resize: 'fit', format: 'BGRx' },
    sync: false,
    rtsp: { transport: 'tcp', latencyMs: 200 },
    ...over,
  };
}

void test('decoder preference: Jetson NVDEC, then desktop NVDEC, then libav', () => {
  assert.deepEqual(chooseDecoder('h264', jetson), { codec: 'h264', element: 'nvv4l2decoder', family: 'jetson' });
  assert.deepEqual(chooseDecoder('h265', desktop), { codec: 'h265', element: 'nvh265dec', family: 'nvidia' });
  assert.deepEqual(chooseDecoder('h264', software), { codec: 'h264', element: 'avdec_h264', family: 'software' });
  // nvv4l2decoder without nvvidconv is unusable: nothing else reads NVMM buffers.
  assert.equal(chooseDecoder('h264', staticRegistry(['nvv4l2decoder', 'avdec_h264'])).element, 'avdec_h264');
  assert.throws(() => chooseDecoder('h265', staticRegistry(['avdec_h264'])), NoDecoderError);
});

void test('file pipeline: parsebin, probe of the coded size before decoding, rate limit before scaling, aspect-keeping caps', () => {
  const { description, secrets } = buildPipeline(spec('file:///v/a b.mp4'));
  assert.deepEqual(secrets, []);
  assert.equal(description,
    'filesrc name=src location="/v/a b.mp4" ! parsebin ! capsfilter caps=video/x-h264 ! h264parse ! queue max-size-buffers=2 ! tee name=t'
    + ' t. ! queue leaky=downstream max-size-buffers=1 ! fakesink name=probe enable-last-sample=true sync=false async=false'
    + ' t. ! avdec_h264 max-threads=1 ! videorate drop-only=true max-rate=5 ! videoscale ! videoconvert'
    + ' ! video/x-raw,format=BGRx,width=[1,416],height=[1,416],pixel-aspect-ratio=1/1'
    + ' ! appsink name=sink max-buffers=1 drop=true sync=false');
});

void test('stretch gives exact size without a PAR constraint', () => {
  const { description } = buildPipeline(spec('file:///a.mp4', { analysis: { width: 640, height: 640, resize: 'stretch', format: 'RGBA' }, sync: true }));
  assert.match(description, /videoscale add-borders=false ! videoconvert ! video\/x-raw,format=RGBA,width=640,height=640 ! appsink name=sink max-buffers=1 drop=true sync=true$/);
});

void test('Jetson pipeline decodes to NVMM and converts with nvvidconv', () => {
  const { description } = buildPipeline(spec('file:///a.mp4', { decoder: chooseDecoder('h265', jetson) }));
  assert.match(description, /capsfilter caps=video\/x-h265 ! h265parse ! video\/x-h265,stream-format=byte-stream,alignment=au ! queue max-size-buffers=2 ! tee name=t/);
  assert.match(description, /t\. ! nvv4l2decoder ! videorate drop-only=true max-rate=5 ! nvvidconv ! video\/x-raw,format=BGRx,width=\[1,416\],height=\[1,416\],pixel-aspect-ratio=1\/1 ! appsink/);
  assert.doesNotMatch(description, /videoscale|videoconvert/);
});

void test('desktop NVIDIA pipeline uses nvh264dec with software scaling', () => {
  const { description } = buildPipeline(spec('file:///a.mp4', { decoder: chooseDecoder('h264', desktop) }));
  assert.match(description, /h264parse ! queue max-size-buffers=2 ! tee name=t .* t\. ! nvh264dec ! videorate .* videoscale ! videoconvert/);
});

void test('RTSP pipeline: credentials become properties, never part of the description', () => {
  const { description, secrets } = buildPipeline(spec('rtsp://admin:s3cret@10.0.0.7:554/live', {
    decoder: chooseDecoder('h265', software), rtsp: { transport: 'udp', latencyMs: 0 }, sync: true,
  }));
  assert.doesNotMatch(description, /s3cret|admin/);
  assert.match(description, /^rtspsrc name=src location="rtsp:\/\/10\.0\.0\.7:554\/live" protocols=udp latency=0 drop-on-latency=true ! capsfilter caps="application\/x-rtp,media=video,encoding-name=H265" ! rtph265depay ! h265parse ! queue max-size-buffers=2 ! tee name=t .* ! avdec_h265 max-threads=1 ! videorate/);
  assert.deepEqual(secrets, [
    { element: 'src', property: 'user-id', value: 'admin' },
    { element: 'src', property: 'user-pw', value: 's3cret' },
  ]);
});

void test('test source needs no decoder and is live', () => {
  const { description } = buildPipeline(spec('test://ball?width=320&height=240&fps=15', { decoder: null, fps: 2.4, sync: true }));
  assert.match(description, /^videotestsrc name=src pattern=ball is-live=true ! video\/x-raw,width=320,height=240,framerate=15\/1 ! queue max-size-buffers=2 ! tee name=t/);
  assert.match(description, /max-rate=2 /);
});

void test('quote escapes what gst_parse_launch would misread', () => {
  assert.equal(quote('a "b" \\c'), '"a \\"b\\" \\\\c"');
});
