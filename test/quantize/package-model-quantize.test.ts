import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { sha256File } from '../../daemon/inference/checksum.js';
import { loadPublicKey } from '../../daemon/models/keys.js';
import { readPackageHeader } from '../../daemon/models/package-file.js';
import { program } from '../../scripts/package-model.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';

test('package-model quantize: --package without a key is refused before any work', async () => {
  const p = program(() => undefined);
  p.commands.forEach((c) => c.exitOverride());
  await assert.rejects(p.parseAsync(['quantize', '--manifest', 'models/nanodet-m.json', '--images', '.', '--out', 'x.onnx', '--package', 'x.vpkg'], { from: 'user' }),
    /--package needs --name, --version and --key/);
});

test('package-model quantize --package: a signed package whose int8 variant is the quantized file', async (t) => {
  const dir = await tempDir(t);
  const lines: string[] = [];
  const p = program((s) => lines.push(s));
  p.commands.forEach((c) => c.exitOverride());
  await p.parseAsync(['keygen', '--out', path.join(dir, 'pub')], { from: 'user' });
  const int8 = path.join(dir, 'nanodet.int8.onnx');
  const pkg = path.join(dir, 'nanodet.vpkg');
  // --bar 0: this checks the packaging of the result; the figures are checked in quantize.test.ts.
  await p.parseAsync(['quantize', '--manifest', path.join(repoRoot, 'models', 'nanodet-m.json'), '--models-dir', sharedPath('models'),
    '--video', sharedPath('video', 'pedestrians.mp4'), '--step', '40', '--frames', '11', '--keep-float', '0', '--bar', '0', '--min-speedup', '0', '--threads', '2',
    '--out', int8, '--package', pkg, '--name', 'detector', '--version', '2026.12.1', '--key', path.join(dir, 'pub.key.pem')], { from: 'user' });
  assert.match(lines.join('\n'), /INT8 \(QDQ\), 1\.\d\d MB against 3\.80 MB fp32/);
  const v = await readPackageHeader(pkg, [loadPublicKey(path.join(dir, 'pub.pub.pem'))]);
  assert.deepEqual(v.manifest.variants, [{ precision: 'fp32', file: 'model.onnx' }, { precision: 'int8', file: 'model.int8.onnx' }]);
  const entry = v.manifest.files.find((f) => f.name === 'model.int8.onnx');
  assert.equal(entry?.sha256, await sha256File(int8));
});
