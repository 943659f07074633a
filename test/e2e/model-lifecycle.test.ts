import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { CliError } from '../../cli/errors.js';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';
import type { AppStatus } from '../../daemon/app.js';
import type { ActivationResult, ModelsList } from '../../daemon/models/model-manager.js';
import { PACKAGE_MAGIC } from '../../daemon/models/package-file.js';
import { modelMessageSchema, type ModelMessage } from '../../daemon/uplink/payloads.js';
import { serveFiles } from '../helpers/file-server.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { writeNanYolox } from '../helpers/onnx-writer.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { makeKey, makePackage, YOLOX_DOG_EXPECT } from '../models/fixtures.js';
import { MODELS_DIR, makeDogClip, manifestPath, spawnDaemon, writeConfig } from './daemon-harness.js';

/**
 * The model lifecycle against a running vigild analysing a real clip: a signed package swapped in
 * over the control socket without a pause in the frame counters, the refusals, a NaN model rolled
 * back by its probation, a hub offer installed from a URL, and a rollback by hand.
 */

async function ctl(args: string[]): Promise<string> {
  const lines: string[] = [];
  const out: Output = { raw: (s) => lines.push(s), result: (_j, _v, h) => lines.push(h), error: (s) => lines.push(s) };
  await buildProgram(out).parseAsync(args, { from: 'user' });
  return lines.join('\n');
}

interface Sample { at: number; analysed: number; dropped: number; inferences: number; pending: number; skipped: number; errors: number; detections: number; restarts: number; version: string | null }

test('model lifecycle on a running vigild: hot swap, refusals, automatic rollback, hub offer', { timeout: 240_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-models-');
  const broker = await startMosquitto(t);
  const key = makeKey(dir, 'publisher');
  const stranger = makeKey(dir, 'stranger');
  const clip = await makeDogClip(dir);
  const socket = path.join(dir, 'vigild.sock');
  const state = path.join(dir, 'state');
  const config = await writeConfig(dir, {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: state }, mqtt: { url: broker.url },
    models_dir: MODELS_DIR,
    models: [{ name: 'detector', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    streams: [{ id: 'dog', uri: pathToFileURL(clip).href, model: 'detector', fps: 5, loop: true }],
    model_store: { trusted_keys: [key.pub], probation: { duration_s: 3, min_frames: 5 } },
    telemetry: { interval_s: 60, prometheus: { enabled: false } },
  });

  // What the hub sees: every vigil.model/1 message, validated against the contract.
  const hub = await mqtt.connectAsync(broker.url, { clientId: 'hub-test' });
  t.after(() => hub.endAsync());
  const reports: ModelMessage[] = [];
  hub.on('message', (_topic, payload) => reports.push(modelMessageSchema.parse(JSON.parse(payload.toString()))));
  await hub.subscribeAsync('vigil/v1/lab/cam-1/models', { qos: 1 });

  const vigild = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('vigild running', (l) => l.msg === 'vigild running', 60_000);
  const status = async (): Promise<AppStatus> => JSON.parse(await ctl(['status', '--socket', socket, '--json'])) as AppStatus;
  const list = async (): Promise<ModelsList> => JSON.parse(await ctl(['models', 'list', '--socket', socket, '--json'])) as ModelsList;
  const sample = async (): Promise<Sample> => {
    const s = await status();
    const st = s.streams[0];
    assert.ok(st);
    return { at: Date.now(), analysed: st.analysis.framesAnalysed, dropped: st.framesDropped, inferences: st.analysis.inferences,
      pending: st.analysis.pendingInferences, skipped: st.analysis.skippedFrames, errors: st.analysis.inferenceErrors,
      detections: st.analysis.lastDetections, restarts: st.restarts, version: s.models[0]?.version ?? null };
  };
  await waitFor('frames analysed with detections', async () => {
    const s = await sample();
    return s.inferences >= 5 && s.detections > 0 ? s : undefined;
  }, 30_000, 100);
  assert.equal((await list()).models[0]?.active, 'config');

  // 1. Hot swap: NanoDet-m (vigil.yaml) -> YOLOX-Nano v2 (signed, with a self-test), while sampling.
  const v2 = await makePackage(dir, { model: 'yolox-nano', name: 'detector', version: '2', key,
    selfTest: { image: sharedPath('images', 'dog.jpg'), expect: YOLOX_DOG_EXPECT } });
  const samples: Sample[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push(await sample());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  // Three seconds of the old model alone: what a pause of the frame counter looks like without a swap.
  await new Promise((r) => setTimeout(r, 3000));
  const before = await sample();
  const installStart = Date.now();
  const installed = JSON.parse(await ctl(['models', 'install', v2, '--socket', socket, '--json'])) as
    { name: string; version: string; installed: boolean; activation: ActivationResult };
  const installEnd = Date.now();
  // The package went over the socket (models.upload) and its staged copy is gone once installed.
  assert.deepEqual((await readdir(path.join(state, 'models', '.downloads')).catch(() => [])).filter((n) => n.startsWith('upload-')), []);
  const swapped = await sample();
  await waitFor('10 more frames on the new model', async () => {
    const s = await sample();
    return s.inferences >= swapped.inferences + 10 ? s : undefined;
  }, 30_000, 100);
  sampling = false;
  await sampler;
  const after = await sample();

  assert.deepEqual({ name: installed.name, version: installed.version, installed: installed.installed },
    { name: 'detector', version: '2', installed: true });
  assert.equal(installed.activation.previous, 'config');
  assert.equal(installed.activation.provider, 'cpu');
  assert.equal(installed.activation.deferred, false);
  assert.equal(installed.activation.self_test?.length, 3);
  assert.match(installed.activation.self_test?.join('; ') ?? '', /dog: found, IoU 0\.\d\d, score 0\.\d\d; bicycle: found.*; car: found/);
  for (let i = 1; i < samples.length; i++) {
    assert.ok((samples[i]?.analysed ?? 0) >= (samples[i - 1]?.analysed ?? 0), 'the frame counter never goes back');
  }
  /** The longest time the frame counter stood still within [from, to]. */
  const longestPause = (from: number, to: number): number => {
    const window = samples.filter((x) => x.at >= from && x.at <= to);
    let longest = 0;
    let lastChange = window[0]?.at ?? from;
    for (let i = 1; i < window.length; i++) {
      const prev = window[i - 1];
      const cur = window[i];
      if (prev && cur && cur.analysed !== prev.analysed) {
        longest = Math.max(longest, cur.at - lastChange);
        lastChange = cur.at;
      }
    }
    return Math.max(longest, (window.at(-1)?.at ?? lastChange) - lastChange);
  };
  const baselinePause = longestPause(samples[0]?.at ?? 0, installStart);
  const maxGap = longestPause(installStart, installEnd + 1000);
  const first = samples[0];
  t.diagnostic(`hot swap: install + load + self-test + warm-up + swap took ${installEnd - installStart} ms ` +
    `(load ${installed.activation.load_ms.toFixed(0)} ms, warm-up ${installed.activation.warmup_ms.toFixed(0)} ms); ` +
    `longest pause of the frame counter ${maxGap} ms during it against ${baselinePause} ms in the 3 s before; ` +
    `frames dropped by the pipeline (latest-frame-wins) ${swapped.dropped - before.dropped} during it, ` +
    `${before.dropped - (first?.dropped ?? 0)} in the 3 s before`);
  assert.ok(maxGap < 2000, `the frame counter paused ${maxGap} ms during the swap`);
  assert.equal(after.errors, 0, 'no inference failed across the swap');
  // A status read while a frame is at the detector counts it as analysed and not yet inferred.
  assert.equal(after.skipped, 0, 'no frame skipped across the swap');
  assert.equal(after.analysed, after.inferences + after.pending, 'every analysed frame got detections or is at the detector: none lost');
  assert.ok(after.pending <= 2, `at most the pipeline's two frames at the detector, not ${after.pending}`);
  assert.equal(after.restarts, before.restarts, 'the stream did not restart');
  assert.ok(after.detections > 0, 'detections continue with the new model');
  assert.equal((await status()).streams[0]?.state, 'playing');
  assert.ok(vigild.lines.some((l) => l.msg === 'model version activated: streams switched' && l['version'] === '2'), 'no activation line in the log');

  const passed = await waitFor('probation passed', async () => {
    const m = (await list()).models[0];
    return m?.active === '2' && m.state === 'active' ? m : undefined;
  }, 20_000, 200);
  assert.equal(passed.previous, 'config');
  assert.deepEqual(passed.versions.map((v) => v.version), ['2']);
  const human = await ctl(['models', 'list', '--socket', socket]);
  assert.match(human, /^detector: 2 {2}provider cpu {2}previous config\n {2}\* 2 +fp32 +[\d.]+ MiB {2}installed .* {2}key [0-9a-f]{16}$/);

  // 2. Refusals: each a clear error, the active version untouched.
  const refuse = async (pkg: string, pattern: RegExp): Promise<void> => {
    await assert.rejects(ctl(['models', 'install', pkg, '--socket', socket]), (err: unknown) => {
      assert.ok(err instanceof CliError, String(err));
      assert.equal(err.exitCode, 1);
      assert.match(err.message, pattern);
      return true;
    });
    const m = (await list()).models[0];
    assert.equal(m?.active, '2', `still active after ${pattern}`);
    assert.equal((await status()).models[0]?.version, '2');
  };
  const good3 = await makePackage(dir, { model: 'yolox-nano', name: 'detector', version: '3', key });
  const bytes = await readFile(good3);
  const text = bytes.toString('latin1');
  const headerEnd = text.indexOf('\n', PACKAGE_MAGIC.length);
  const header = JSON.parse(text.slice(PACKAGE_MAGIC.length, headerEnd)) as { manifest: string };
  const tampered = path.join(dir, 'tampered.vpkg');
  await writeFile(tampered, Buffer.concat([
    Buffer.from(PACKAGE_MAGIC + JSON.stringify({ ...header, manifest: header.manifest.replace('"iou":0.45', '"iou":0.9') }) + '\n', 'latin1'),
    bytes.subarray(headerEnd + 1)]));
  await refuse(tampered, /failed: bad_signature: package .*tampered\.vpkg: signature does not verify with key/);
  await refuse(await makePackage(dir, { model: 'yolox-nano', name: 'detector', version: '3', key: stranger }),
    /failed: untrusted_key: package .* is signed by key [0-9a-f]{16}, which this device does not trust \(trusted: [0-9a-f]{16}\)/);
  const flipped = Buffer.from(bytes);
  flipped[headerEnd + 5000] = (flipped[headerEnd + 5000] ?? 0) ^ 0x01;
  const corrupt = path.join(dir, 'corrupt.vpkg');
  await writeFile(corrupt, flipped);
  await refuse(corrupt, /failed: checksum_mismatch: package .*: file model\.onnx: sha256 mismatch/);
  // NanoDet's manifest around YOLOX's network: the input is "images", not "input.1".
  await refuse(await makePackage(dir, { model: 'nanodet-m', name: 'detector', version: '3', key, onnx: sharedPath('models', 'yolox-nano', 'model.onnx') }),
    /failed: load_failed: .* has no input "input\.1" \(input\.name\); its inputs are "images"/);
  const served = path.join(dir, 'www');
  await mkdir(served);
  await copyFile(good3, path.join(served, 'detector-3.vpkg'));
  const www = await serveFiles(t, served);
  www.cut('/detector-3.vpkg', 200_000, 3);
  await refuse(`${www.url}/detector-3.vpkg`, /failed: truncated: download of http:\/\/127\.0\.0\.1:\d+\/detector-3\.vpkg incomplete after 3 tries: .*bytes kept in .* to resume/);
  const refusedCodes = await waitFor('five refusals at the hub', () => {
    const r = reports.filter((m) => m.action === 'refused');
    return r.length >= 5 ? r.map((m) => m.code) : undefined;
  }, 10_000);
  assert.deepEqual(refusedCodes, ['bad_signature', 'untrusted_key', 'checksum_mismatch', 'load_failed', 'truncated']);
  // Refused before its header could be trusted, a package is still named as its header names it.
  const untrusted = reports.find((m) => m.action === 'refused' && m.code === 'untrusted_key');
  assert.deepEqual([untrusted?.model, untrusted?.version], ['detector', '3']);
  assert.ok(vigild.lines.some((l) => l.msg === 'model package refused' && l['code'] === 'untrusted_key' && l['model'] === 'detector' && l['version'] === '3'),
    'the refusal is logged with the header\'s name and version');

  // 3. A model that passes loading and warm-up but returns NaN for every real picture.
  const nan = path.join(dir, 'nan.onnx');
  await writeNanYolox(nan);
  const v4 = await makePackage(dir, { model: 'yolox-nano', name: 'detector', version: '4', key, onnx: nan });
  const act4 = JSON.parse(await ctl(['models', 'install', v4, '--socket', socket, '--json'])) as { activation: ActivationResult };
  assert.equal(act4.activation.previous, '2');
  const rolled = await waitFor('the automatic rollback', async () => {
    const m = (await list()).models[0];
    return m?.last_rollback ? m : undefined;
  }, 20_000, 100);
  assert.equal(rolled.active, '2');
  assert.equal(rolled.state, 'active');
  assert.deepEqual({ from: rolled.last_rollback?.from, to: rolled.last_rollback?.to, automatic: rolled.last_rollback?.automatic },
    { from: '4', to: '2', automatic: true });
  assert.match(rolled.last_rollback?.reason ?? '', /^probation failed: 3 of 3 inferences failed \(limit 20%\): model .* output "output" holds a non-finite value \(NaN\)/);
  const hubRollback = await waitFor('the rollback at the hub', () => reports.find((m) => m.action === 'rolled_back'), 10_000);
  assert.deepEqual({ version: hubRollback.version, active: hubRollback.active, automatic: hubRollback.automatic, severity: hubRollback.severity },
    { version: '4', active: '2', automatic: true, severity: 'warning' });
  assert.ok(vigild.lines.some((l) => l.msg === 'model failed probation: rolling back' && l['version'] === '4'), 'no probation failure in the log');
  const afterRollback = await sample();
  await waitFor('frames analysed again after the rollback', async () => {
    const s = await sample();
    return s.inferences >= afterRollback.inferences + 5 && s.detections > 0 ? s : undefined;
  }, 20_000, 100);
  assert.match(await ctl(['models', 'list', '--socket', socket]), /last rollback .*: 4 -> 2 \(automatic\): probation failed: 3 of 3 inferences failed/);

  // 4. The hub offers v5 (NanoDet again) as a retained message; the device fetches it over HTTP, resuming once.
  const v5 = await makePackage(dir, { model: 'nanodet-m', name: 'detector', version: '5', key });
  await copyFile(v5, path.join(served, 'detector-5.vpkg'));
  www.cut('/detector-5.vpkg', 1_000_000, 1);
  await hub.publishAsync('vigil/v1/lab/models/detector', JSON.stringify({
    schema: 'vigil.model-offer/1', name: 'detector', version: '5', url: `${www.url}/detector-5.vpkg`,
  }), { qos: 1, retain: true });
  await waitFor('v5 active from the hub offer', async () => ((await status()).models[0]?.version === '5' ? true : undefined), 30_000, 200);
  assert.deepEqual(www.requests.filter((r) => r.path === '/detector-5.vpkg').map((r) => r.range), [undefined, 'bytes=1000000-']);
  await waitFor('the activation of v5 at the hub', () => reports.find((m) => m.action === 'activated' && m.version === '5'), 10_000);

  // 5. A rollback by hand goes back to the version before.
  assert.equal(await ctl(['models', 'rollback', 'detector', '--socket', socket]), 'detector: rolled back from 5 to 2');
  assert.equal((await status()).models[0]?.version, '2');
  await assert.rejects(ctl(['models', 'activate', 'detector', '9', '--socket', socket]),
    /failed: unknown_version: detector has no installed version "9" \(installed: 2, 4, 5\)/);

  // 6. An offer of a version already installed is not fetched, and the log says why nothing happens.
  const requestsBefore = www.requests.length;
  const from = vigild.lines.length;
  await hub.publishAsync('vigil/v1/lab/models/detector', JSON.stringify({
    schema: 'vigil.model-offer/1', name: 'detector', version: '4', url: `${www.url}/detector-4.vpkg`,
  }), { qos: 1, retain: true });
  const said = await vigild.waitForLine('the offer of an installed version', (l) => /already installed/.test(l.msg), 10_000, from);
  assert.equal(said['version'], '4');
  assert.equal(www.requests.length, requestsBefore, 'nothing fetched');

  const exit = await vigild.stop();
  assert.equal(exit.code, 0);
  assert.deepEqual(vigild.badLines, []);
});

test('vigild killed during a probation comes back on the previous model; a clean stop keeps the probation', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-models-crash-');
  const broker = await startMosquitto(t);
  const key = makeKey(dir, 'publisher');
  const clip = await makeDogClip(dir);
  const socket = path.join(dir, 'vigild.sock');
  const config = await writeConfig(dir, {
    device: { id: 'cam-2', site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
    models_dir: MODELS_DIR,
    models: [{ name: 'detector', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    streams: [{ id: 'dog', uri: pathToFileURL(clip).href, model: 'detector', fps: 5, loop: true }],
    model_store: { trusted_keys: [key.pub], probation: { duration_s: 600 } },
    telemetry: { interval_s: 60, prometheus: { enabled: false } },
  });
  const hub = await mqtt.connectAsync(broker.url, { clientId: 'hub-crash-test' });
  t.after(() => hub.endAsync());
  const reports: ModelMessage[] = [];
  hub.on('message', (_topic, payload) => reports.push(modelMessageSchema.parse(JSON.parse(payload.toString()))));
  await hub.subscribeAsync('vigil/v1/lab/cam-2/models', { qos: 1 });
  const version = async (): Promise<string | null | undefined> =>
    (JSON.parse(await ctl(['status', '--socket', socket, '--json'])) as AppStatus).models[0]?.version;

  const v2 = await makePackage(dir, { model: 'yolox-nano', name: 'detector', version: '2', key });
  const first = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await first.waitForLine('vigild running', (l) => l.msg === 'vigild running', 60_000);
  await ctl(['models', 'install', v2, '--socket', socket]);
  assert.equal(await version(), '2');
  // A clean stop in the middle of the watch is not the model's fault.
  assert.equal((await first.stop()).code, 0);

  const second = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await second.waitForLine('vigild running', (l) => l.msg === 'vigild running', 60_000);
  assert.equal(await version(), '2');
  const onProbation = JSON.parse(await ctl(['models', 'list', '--socket', socket, '--json'])) as ModelsList;
  assert.equal(onProbation.models[0]?.state, 'probation');
  assert.equal(onProbation.models[0]?.last_rollback, null);
  // Killed as a native crash or the OOM killer would: no shutdown code runs.
  second.child.kill('SIGKILL');
  await second.waitForExit();

  const third = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await third.waitForLine('vigild running', (l) => l.msg === 'vigild running', 60_000);
  const line = await third.waitForLine('the rollback at start', (l) => l.msg === 'model rolled back');
  assert.deepEqual({ from: line['from'], to: line['to'], automatic: line['automatic'] }, { from: '2', to: 'config', automatic: true });
  assert.equal(line['reason'], 'vigild stopped without a clean shutdown while 2 was on probation');
  assert.equal(await version(), 'config');
  const m = (JSON.parse(await ctl(['models', 'list', '--socket', socket, '--json'])) as ModelsList).models[0];
  assert.equal(m?.active, 'config');
  assert.equal(m?.last_rollback?.from, '2');
  const hubRollback = await waitFor('the rollback at the hub', () => reports.find((r) => r.action === 'rolled_back'), 15_000);
  assert.deepEqual({ version: hubRollback.version, active: hubRollback.active, automatic: hubRollback.automatic }, { version: '2', active: 'config', automatic: true });
  assert.equal((await third.stop()).code, 0);
});
