import assert from 'node:assert/strict';
import { readFile, readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { PackageUploads } from '../../daemon/models/uploads.js';
import { tempDir } from '../helpers/shared.js';

test('a package arrives in pieces appended in order; a piece at the wrong offset is refused with the offset expected', async (t) => {
  const dir = await tempDir(t, 'vigil-uploads-');
  const uploads = new PackageUploads(dir);
  assert.equal(await uploads.append('abcd-1234', 0, Buffer.from('hello ')), 6);
  await assert.rejects(uploads.append('abcd-1234', 0, Buffer.from('again')), /piece at offset 0, expected 6/);
  assert.equal(await uploads.append('abcd-1234', 6, Buffer.from('world')), 11);
  assert.equal(await readFile(await uploads.finished('abcd-1234'), 'utf8'), 'hello world');
  await uploads.discard('abcd-1234');
  await assert.rejects(uploads.finished('abcd-1234'), /no upload abcd-1234/);
});

test('ids that could name another file, oversized uploads and abandoned ones are refused or removed', async (t) => {
  const dir = await tempDir(t, 'vigil-uploads-');
  const uploads = new PackageUploads(dir, 8);
  await assert.rejects(uploads.append('../../etc/passwd', 0, Buffer.from('x')), /not 8-64 letters/);
  await assert.rejects(uploads.append('big-upload', 0, Buffer.alloc(9)), /larger than 8 bytes/);
  assert.deepEqual(await readdir(dir), []);
  await uploads.append('left-behind', 0, Buffer.from('x'));
  await uploads.append('still-going', 0, Buffer.from('x'));
  const old = new Date(Date.now() - 2 * 3600_000);
  await utimes(path.join(dir, 'upload-left-behind.vpkg'), old, old);
  await uploads.pruneAbandoned();
  assert.deepEqual(await readdir(dir), ['upload-still-going.vpkg']);
});
