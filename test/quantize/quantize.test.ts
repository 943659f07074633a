import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadDetector } from '../../daemon/inference/detector.js';
import { silentLogger } from '../../daemon/log.js';
import { framesFromVideo } from '../../daemon/models/quantize/frames.js';
import { foldInputFill, packFrame, PACKED_INPUT } from '../../daemon/models/quantize/input-fill.js';
import { decodeModel, encodeModel, node, onnx, readModel, valueInfo } from '../../daemon/models/quantize/onnx-graph.js';
import { loadManifest } from '../../daemon/inference/manifest.js';
import { Preprocessor } from '../../daemon/inference/preprocess.js';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { quantizeModel } from '../../daemon/models/quantize/quantize.js';
import { QuantizeError } from '../../daemon/models/quantize/quantize-error.js';
import { sha256File } from '../../daemon/inference/checksum.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';
import { vigilctl } from '../helpers/vigilctl.js';

const manifestPath = path.join(repoRoot, 'models', 'nanodet-m.json');
const modelsDir = sharedPath('models');
const size = { width: 416, height: 416, letterbox: true };

/** A manifest for `file` shaped like NanoDet-m's, so only the model file is wrong. */
async function manifestFor(dir: string, file: string): Promise<string> {
  const p = path.join(dir, 'bad.json');
  await writeFile(p, JSON.stringify({ file, sha256: await sha256File(file), family: 'nanodet', labels: ['person'],
    input: { width: 416, height: 416, layout: 'nchw', colour: 'bgr', resize: 'letterbox', mean: [0, 0, 0], std: [1, 1, 1] },
    thresholds: { score: 0.35, iou: 0.6 } }));
  return p;
}

test('a file that is not ONNX, a model without Conv/MatMul/Gemm and frames of the wrong size are refused by name', async (t) => {
  const dir = await tempDir(t);
  const text = path.join(dir, 'notes.onnx');
  await writeFile(text, 'this is a text file, not a model\n'.repeat(20));
  await assert.rejects(quantizeModel({ manifestPath: await manifestFor(dir, text), calibration: [], heldOut: [] }),
    (err: unknown) => err instanceof QuantizeError && err.message.includes(text) && /not an ONNX model/.test(err.message));

  const reluOnly = path.join(dir, 'relu.onnx');
  const m = decodeModel(onnx.ModelProto.encode({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph: {
    name: 'relu', node: [], input: [], output: [] } }).finish());
  const g = m.graph as NonNullable<typeof m.graph>;
  g.node = [node('Relu', ['x'], ['y'], 'only_relu')];
  g.input = [valueInfo('x', 1)];
  g.output = [valueInfo('y', 1)];
  await writeFile(reluOnly, encodeModel(m));
  await assert.rejects(quantizeModel({ manifestPath: await manifestFor(dir, reluOnly), calibration: [], heldOut: [] }),
    /has no Conv, MatMul or Gemm node/);

  // Frames the model cannot take (larger than its 416x416 input) are refused by index and source.
  const big = Array.from({ length: 8 }, (_, i) => ({ streamId: 'cam1', seq: i, ts: 0, format: 'BGRx' as const, width: 500, height: 500,
    data: Buffer.alloc(500 * 500 * 4), sourceWidth: 500, sourceHeight: 500 }));
  await assert.rejects(quantizeModel({ manifestPath, modelsDir, calibration: big, heldOut: big }),
    /calibration frame 0 \(cam1 #0\): frame is 500x500, larger than the model input 416x416/);

  // The CLI says the same and exits non-zero.
  const r = await vigilctl(['models', 'quantize', '--manifest', await manifestFor(dir, text), '--images', sharedPath('images'), '--out', path.join(dir, 'x.onnx')]);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /not an ONNX model/);
});

test('NanoDet-m: INT8 from 8 frames of the plaza clip loads, runs, is a third of the size, and agrees with fp32 on later frames', async (t) => {
  const dir = await tempDir(t);
  const frames = await framesFromVideo(sharedPath('video', 'pedestrians.mp4'), size, 25);
  const calibration = frames.slice(0, 8);
  const heldOut = frames.slice(10);
  assert.ok(heldOut.length >= 5, `held-out frames: ${heldOut.length}`);
  await assert.rejects(quantizeModel({ manifestPath, modelsDir, calibration: calibration.slice(0, 3), heldOut }), /3 calibration frames .* at least 8/);

  const bar = 0.9;
  const { model, report } = await quantizeModel({ manifestPath, modelsDir, calibration, heldOut, method: 'minmax', keepFloat: 0,
    sensitivityFrames: 2, bar, threads: 2, minSpeedup: 0 });
  assert.ok(report.fidelity.referenceBoxes >= 20, `fp32 boxes on held-out frames: ${report.fidelity.referenceBoxes}`);
  assert.ok(report.fidelity.map50 >= bar && report.fidelity.recall >= bar, JSON.stringify(report.fidelity));
  assert.ok(model.length < 0.4 * (await stat(path.join(modelsDir, 'nanodet-m', 'model.onnx'))).size, `INT8 size ${model.length}`);
  assert.ok(report.sensitivity.length > 0 && report.sensitivity.every((s) => s.addedNoise >= 0));
  const ops = new Set(decodeModel(model).graph?.node.map((n) => n.opType));
  assert.ok(ops.has('QuantizeLinear') && ops.has('DequantizeLinear'));

  // Through the daemon's own loader: the file a package's int8 variant would hold.
  const file = path.join(dir, 'int8.onnx');
  await writeFile(file, model);
  const m = path.join(dir, 'int8.json');
  const base = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
  await writeFile(m, JSON.stringify({ ...base, file, sha256: await sha256File(file), labels: path.join(modelsDir, 'nanodet-m', 'labels.txt') }));
  const d = await loadDetector({ name: 'int8', manifestPath: m, providers: ['cpu'], threads: 1 }, silentLogger());
  t.after(() => d.close());
  const found = await d.detect(heldOut[0] as (typeof heldOut)[number]);
  assert.ok(found.some((x) => x.label === 'person'), JSON.stringify(found));

  // Through vigilctl, with a bar nothing short of identical output meets: refused with the figures,
  // no model written, the report written for reading.
  const out = path.join(dir, 'refused.onnx');
  const r = await vigilctl(['models', 'quantize', '--manifest', manifestPath, '--models-dir', modelsDir, '--video', sharedPath('video', 'pedestrians.mp4'),
    '--step', '25', '--frames', '16', '--holdout', '0.4', '--keep-float', '0', '--bar', '1', '--threads', '2', '--out', out]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /INT8 model refused: on \d+ held-out frames \(\d+ fp32 boxes\) mAP@0\.5 against fp32 is \d\.\d{3} and recall \d\.\d{3}, below the bar of 1/);
  await assert.rejects(stat(out), { code: 'ENOENT' });
  const written = JSON.parse(await readFile(`${out}.report.json`, 'utf8')) as { fidelity: { frames: number }; calibrationFrames: number };
  // 16 of the clip's 17 sampled frames: the first 60 % calibrate, the rest are held out.
  assert.deepEqual([written.calibrationFrames, written.fidelity.frames], [10, 6]);
});

test('the input fill folded into the graph gives the outputs of the JavaScript fill, from the frame\'s bytes', async () => {
  const m = await loadManifest(manifestPath, modelsDir);
  const spec = m.manifest.input;
  const [frame] = await framesFromVideo(sharedPath('video', 'pedestrians.mp4'), size, 1, 1);
  assert.ok(frame && frame.height < spec.height, 'a letterboxed frame, so the padding is checked too');
  const pre = new Preprocessor(spec);
  pre.fill(frame);
  const packed = new Uint8Array(spec.width * spec.height * 4).fill(spec.pad_value);
  packFrame(frame, spec, packed);
  const a = await InferenceSession.create(m.modelPath, { logSeverityLevel: 3 });
  const b = await InferenceSession.create(foldInputFill(await readModel(m.modelPath), spec, m.modelPath), { logSeverityLevel: 3 });
  const oa = await a.run({ [spec.name ?? '']: new Tensor('float32', pre.tensor, pre.dims) });
  const ob = await b.run({ [PACKED_INPUT]: new Tensor('uint8', packed, [1, spec.height, spec.width, 4]) });
  for (const [k, v] of Object.entries(oa)) {
    const w = ob[k]?.data as Float32Array;
    const worst = (v.data as Float32Array).reduce((acc, x, i) => Math.max(acc, Math.abs(x - (w[i] as number))), 0);
    assert.ok(worst < 1e-3, `output ${k} differs by ${worst}`);
  }
  await a.release();
  await b.release();
});
