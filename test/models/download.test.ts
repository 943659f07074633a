import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { sha256File } from '../../daemon/inference/checksum.js';
import { download, type DownloadProgress } from '../../daemon/models/download.js';
import { PackageError } from '../../daemon/models/package-error.js';
import { serveFiles } from '../helpers/file-server.js';
import { sharedPath, tempDir } from '../helpers/shared.js';

const MODEL = sharedPath('models', 'yolox-nano', 'model.onnx');

test('a dropped connection is resumed with a Range request and the file arrives whole', async (t) => {
  const dir = await tempDir(t);
  const server = await serveFiles(t, sharedPath('models'));
  server.cut('/yolox-nano/model.onnx', 1_000_000);
  const progress: DownloadProgress[] = [];
  const dest = path.join(dir, 'model.onnx');
  const r = await download(`${server.url}/yolox-nano/model.onnx`, dest, { retryDelayMs: 10, progressIntervalMs: 0, onProgress: (p) => progress.push(p) });
  assert.equal(await sha256File(dest), await sha256File(MODEL));
  assert.equal(r.bytes, (await stat(MODEL)).size);
  assert.deepEqual(server.requests.map((q) => q.range), [undefined, 'bytes=1000000-']);
  assert.equal(progress.at(-1)?.received, r.bytes);
  assert.equal(progress.at(-1)?.total, r.bytes);
  assert.ok(progress.some((p) => p.received <= 1_000_000), 'progress reported during the first try');
  assert.equal(existsSync(`${dest}.part`), false);
});

test('a download that keeps failing is refused as truncated, keeps its bytes, and a later call resumes them', async (t) => {
  const dir = await tempDir(t);
  const server = await serveFiles(t, sharedPath('models'));
  server.cut('/yolox-nano/model.onnx', 500_000, 2);
  const dest = path.join(dir, 'model.onnx');
  await assert.rejects(download(`${server.url}/yolox-nano/model.onnx`, dest, { attempts: 2, retryDelayMs: 10 }), (err: unknown) => {
    assert.ok(err instanceof PackageError);
    assert.equal(err.code, 'truncated');
    assert.match(err.message, /incomplete after 2 tries: .*; 1000000 bytes kept in .*model\.onnx\.part to resume/);
    return true;
  });
  assert.equal(existsSync(dest), false, 'an incomplete file is never handed on');
  assert.equal((await stat(`${dest}.part`)).size, 1_000_000);
  const r = await download(`${server.url}/yolox-nano/model.onnx`, dest, { retryDelayMs: 10 });
  assert.equal(r.resumedFrom, 1_000_000);
  assert.equal(server.requests.at(-1)?.range, 'bytes=1000000-');
  assert.equal(await sha256File(dest), await sha256File(MODEL));
});

test('HTTP errors and bad URLs are refused with what went wrong', async (t) => {
  const dir = await tempDir(t);
  const server = await serveFiles(t, sharedPath('models'));
  await assert.rejects(download(`${server.url}/nope.vpkg`, path.join(dir, 'x'), { retryDelayMs: 10 }), /download of http:\/\/127\.0\.0\.1:\d+\/nope\.vpkg failed: HTTP 404/);
  await assert.rejects(download('ftp://example.com/x', path.join(dir, 'x')), /unsupported URL scheme ftp:/);
  await assert.rejects(download('http://127.0.0.1:1/x', path.join(dir, 'y'), { attempts: 1 }), /incomplete after 1 tries: connect ECONNREFUSED/);
});
