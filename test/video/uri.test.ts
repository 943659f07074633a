import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactUri } from '../../daemon/util/redact.js';
import { parseStreamUri, StreamUriError } from '../../daemon/video/uri.js';

void test('file URIs give a path', () => {
  assert.deepEqual(parseStreamUri('file:///data/clip%20one.mp4'), { kind: 'file', path: '/data/clip one.mp4' });
});

void test('rtsp credentials are split off the location and decoded', () => {
  const s = parseStreamUri('rtsp://admin:p%40ss%3Aword@10.0.0.7:554/Streaming/101?tcp');
  assert.deepEqual(s, {
    kind: 'rtsp', location: 'rtsp://10.0.0.7:554/Streaming/101?tcp', user: 'admin', password: 'p@ss:word',
  });
  assert.deepEqual(parseStreamUri('rtsp://cam.local/live'), { kind: 'rtsp', location: 'rtsp://cam.local/live', user: null, password: null });
});

void test('test URIs take a pattern and size', () => {
  assert.deepEqual(parseStreamUri('test://smpte'), { kind: 'test', pattern: 'smpte', width: 640, height: 480, fps: 30 });
  assert.deepEqual(parseStreamUri('test://ball?width=320&height=240&fps=10'), { kind: 'test', pattern: 'ball', width: 320, height: 240, fps: 10 });
  assert.equal(parseStreamUri('test://').kind, 'test');
  assert.throws(() => parseStreamUri('test://ball?width=0'), StreamUriError);
  assert.throws(() => parseStreamUri('test://ball?width=abc'), StreamUriError);
  assert.throws(() => parseStreamUri('http://example.com/x'), StreamUriError);
});

void test('redactUri hides user information wherever a URI appears', () => {
  assert.equal(redactUri('rtsp://admin:secret@10.0.0.7/live'), 'rtsp://***@10.0.0.7/live');
  assert.equal(redactUri('rtsp://user@cam/live'), 'rtsp://***@cam/live');
  assert.equal(redactUri('rtsp://u:p@ss@cam/x?y=a@b'), 'rtsp://***@cam/x?y=a@b');
  assert.equal(redactUri('failed: location="rtsp://a:b@h:1/s" and rtsps://c:d@e/f'), 'failed: location="rtsp://***@h:1/s" and rtsps://***@e/f');
  assert.equal(redactUri('rtsp://cam/live'), 'rtsp://cam/live');
  assert.equal(redactUri('file:///tmp/a.mp4'), 'file:///tmp/a.mp4');
});

void test('an invalid URI error does not leak credentials', () => {
  assert.throws(() => parseStreamUri('rtsp://admin:secret@[bad'), (err: Error) => !err.message.includes('secret'));
});
