import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { call, callUnchecked } from '../../cli/control-client.js';
import type { Output } from '../../cli/output.js';
import { runVigilctl } from '../../cli/run.js';
import { selfTestFrame } from '../../daemon/models/self-test.js';
import { manifestPath, MODELS_DIR, spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';

/** vigilctl in this process, with what it printed (progress goes to process.stderr, so only the command's own lines here). */
async function vigilctl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const output: Output = { raw: (s) => out.push(s), result: (j, v, h) => out.push(j ? JSON.stringify(v) : h), error: (s) => err.push(s) };
  const code = await runVigilctl(args, output);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const analysed = async (socket: string, stream: string): Promise<{ frames: number; inferences: number; at: number }> => {
  const s = await call(socket, { method: 'status' });
  const line = s.streams.find((x) => x.id === stream);
  if (!line) throw new Error(`no stream ${stream} in status`);
  return { frames: line.analysis.framesAnalysed, inferences: line.analysis.inferences, at: performance.now() };
};

/**
 * `vigilctl models quantize --stream` against a real vigild playing the plaza clip in real time
 * with NanoDet-m: the daemon samples the stream over the job's duration, vigilctl quantizes from
 * those frames, and the stream's analysed frame rate during sampling is the rate before it.
 */
test('vigilctl models quantize --stream: frames sampled by a running vigild over time, kept only when asked; the frame path and the running model untouched', { timeout: 600_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const socket = path.join(dir, 'vigild.sock');
  const cfg = await writeConfig(dir, {
    device: { id: 'cam-q', site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
    models_dir: MODELS_DIR,
    models: [{ name: 'detector', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    control: { enabled: true, socket },
    telemetry: { prometheus: { enabled: false } },
    streams: [
      { id: 'plaza', uri: pathToFileURL(sharedPath('video', 'pedestrians.mp4')).href, model: 'detector', fps: 5, realtime: true, loop: true },
      { id: 'motion-only', uri: 'test://ball?width=160&height=120&fps=2', fps: 2 },
    ],
  });
  const vigild = spawnDaemon(t, ['--config', cfg], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 60_000);
  await waitFor('plaza to be analysed', async () => ((await analysed(socket, 'plaza')).inferences > 5 ? true : undefined), 60_000, 200);
  const modelsBefore = await call(socket, { method: 'models.list' });

  // Bad requests first: each refused with what is wrong, and none leaves a job behind.
  let r = await vigilctl(['models', 'quantize', '--manifest', manifestPath('nanodet-m'), '--models-dir', MODELS_DIR, '--stream', 'nosuch',
    '--duration', '2s', '--out', path.join(dir, 'x.onnx'), '--socket', socket]);
  assert.equal(r.code, 1);
  assert.match(r.err, /no stream "nosuch" \(streams: plaza, motion-only\)/);
  r = await vigilctl(['models', 'quantize', '--manifest', manifestPath('nanodet-m'), '--models-dir', MODELS_DIR, '--stream', 'motion-only',
    '--duration', '2s', '--out', path.join(dir, 'x.onnx'), '--socket', socket]);
  assert.equal(r.code, 1);
  assert.match(r.err, /stream "motion-only" runs no model/);
  // Too few asked for: refused before any sampling.
  r = await vigilctl(['models', 'quantize', '--manifest', manifestPath('nanodet-m'), '--models-dir', MODELS_DIR, '--stream', 'plaza',
    '--frames', '10', '--out', path.join(dir, 'few.onnx'), '--socket', socket]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--frames 10 with --holdout 0.3 leaves 7 calibration frames; at least 8 are needed/);
  // Too few given: 1 s at 5 fps cannot give 8 calibration frames besides the held-out ones.
  r = await vigilctl(['models', 'quantize', '--manifest', manifestPath('nanodet-m'), '--models-dir', MODELS_DIR, '--stream', 'plaza',
    '--frames', '30', '--duration', '1s', '--out', path.join(dir, 'few.onnx'), '--socket', socket]);
  assert.equal(r.code, 1);
  assert.match(r.err, /\d calibration frames for model .*nanodet-m.*; at least 8 are needed/);
  await assert.rejects(stat(path.join(dir, 'few.onnx')), 'no model written');

  // The frame rate before sampling, over the same length of time as the sampling.
  const durationS = 24;
  const b0 = await analysed(socket, 'plaza');
  await new Promise((resolve) => setTimeout(resolve, durationS * 1000));
  const b1 = await analysed(socket, 'plaza');
  const fpsBefore = (b1.frames - b0.frames) / ((b1.at - b0.at) / 1000);

  // Sampling alone, through the protocol, to read the daemon's own counts for the job's window.
  const job = await call(socket, { method: 'calibration.start', params: { streams: ['plaza'], count: 40, duration_s: durationS } });
  await assert.rejects(call(socket, { method: 'calibration.start', params: { streams: ['plaza'], count: 4, duration_s: 1 } }),
    /calibration job .* is sampling; drop it/);
  const done = await waitFor('the sampling to end', async () => {
    const s = await call(socket, { method: 'calibration.fetch', params: { job: job.job, from: 0, max_bytes: 1 } });
    return s.state === 'done' ? s : undefined;
  }, (durationS + 30) * 1000, 500);
  const fpsDuring = done.seen / done.duration_s;
  t.diagnostic(`plaza analysed at ${fpsBefore.toFixed(2)} fps before, ${fpsDuring.toFixed(2)} fps while sampled (${done.seen} frames, ${done.motion_frames} with motion, `
    + `${done.inferred_frames} inferred; ${done.kept} kept, ${(done.bytes / 2 ** 20).toFixed(1)} MiB in vigild)`);
  assert.ok(fpsDuring >= 0.9 * fpsBefore, `frame rate while sampling ${fpsDuring.toFixed(2)} against ${fpsBefore.toFixed(2)} before`);
  assert.ok(done.kept >= 30 && done.kept <= 40, `kept ${done.kept}`);
  // Frames at the model's fit size (960x540 into 416x416: 416x234), at most count + 1 of them held.
  assert.ok(done.bytes <= 41 * 416 * 234 * 4, `bytes ${done.bytes}`);
  assert.equal((await call(socket, { method: 'calibration.drop', params: { job: job.job } })).dropped, done.kept);
  await assert.rejects(callUnchecked(socket, { method: 'calibration.fetch', params: { job: job.job, from: 0, max_bytes: 1 } }), /no calibration job/);

  // The whole command: sample, quantize, keep the frames as asked.
  const kept = path.join(dir, 'frames');
  const out = path.join(dir, 'nanodet.int8.onnx');
  const started = performance.now();
  r = await vigilctl(['models', 'quantize', '--manifest', manifestPath('nanodet-m'), '--models-dir', MODELS_DIR, '--stream', 'plaza',
    '--frames', '30', '--duration', '20s', '--keep-frames', kept, '--keep-float', '0', '--bar', '0.8', '--min-speedup', '0', '--threads', '1', '--out', out, '--socket', socket]);
  t.diagnostic(`vigilctl models quantize --stream: ${((performance.now() - started) / 1000).toFixed(0)} s\n${r.out}${r.err}`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /calibration: \d+ frames, minmax/);
  const report = JSON.parse(await readFile(`${out}.report.json`, 'utf8')) as { calibrationFrames: number; fidelity: { frames: number } };
  assert.ok(report.calibrationFrames >= 15 && report.fidelity.frames >= 5, JSON.stringify(report).slice(0, 300));
  assert.ok((await stat(out)).size < 0.4 * (await stat(path.join(MODELS_DIR, 'nanodet-m', 'model.onnx'))).size);

  const names = (await readdir(kept)).filter((n) => n.endsWith('.jpg'));
  const meta = JSON.parse(await readFile(path.join(kept, 'frames.json'), 'utf8')) as { file: string; stream: string; motion: number; detections: number | null }[];
  assert.equal(names.length, report.calibrationFrames + report.fidelity.frames);
  assert.deepEqual(meta.map((m) => m.file).sort(), names.sort());
  assert.ok(meta.some((m) => (m.detections ?? 0) > 0), 'the plaza has people: some kept frames have detections');
  // The kept JPEGs are the frames at the model's fit size, readable as a calibration folder (--images).
  const back = await selfTestFrame(path.join(kept, names[0] as string), { width: 416, height: 416, letterbox: true });
  assert.deepEqual([back.width, back.height], [416, 234]);

  // The job let go of its frames (a new one may start), and the running model is the one before.
  const again = await call(socket, { method: 'calibration.start', params: { streams: ['plaza'], count: 2, duration_s: 1 } });
  await call(socket, { method: 'calibration.drop', params: { job: again.job } });
  const modelsAfter = await call(socket, { method: 'models.list' });
  assert.deepEqual(modelsAfter.models.map((m) => [m.name, m.active, m.state]), modelsBefore.models.map((m) => [m.name, m.active, m.state]));
  const a0 = await analysed(socket, 'plaza');
  await waitFor('plaza to go on being inferred', async () => ((await analysed(socket, 'plaza')).inferences > a0.inferences + 5 ? true : undefined), 20_000, 200);
});
