import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { freePort, startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { subscribe } from '../uplink/harness.js';
import { MODELS_DIR, makeDogClip, manifestPath, spawnDaemon, writeConfig, type LogLine } from './daemon-harness.js';

const NANODET_SHA = '4b82da9944b88577175ee23a459dce2e26e6e4be573def65b1055dc2d9720186';

/** Runs vigild on `yamlText` and returns its exit, stderr and how long it took. */
async function runInvalid(t: Parameters<typeof spawnDaemon>[0], dir: string, name: string, yamlText: string,
  extraArgs: string[] = []): Promise<{ code: number | null; stderr: string; stdout: string; ms: number }> {
  const file = path.join(dir, name);
  await writeFile(file, yamlText);
  const started = performance.now();
  const vigild = spawnDaemon(t, ['--config', file, ...extraArgs]);
  const done = await vigild.waitForExit(10_000);
  return { code: done.code, stderr: vigild.stderr(), stdout: vigild.stdout(), ms: performance.now() - started };
}

test('an invalid config exits 2 at once, listing every problem with its path on stderr, touching nothing', async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-cfg-');
  const storage = path.join(dir, 'state');

  const schema = await runInvalid(t, dir, 'schema.yaml', [
    `device: { id: "bad id!", site: yard }`,
    `storage: { dir: ${JSON.stringify(storage)} }`,
    `mqtt: { url: "http://broker:1883" }`,
    'streams:',
    '  - { id: gate, uri: "ftp://cam/1", fps: 0, colour: true }',
    'rules:',
    '  - { id: r1, stream: gate, kind: presence, classes: [], min_score: 2 }',
    '',
  ].join('\n'));
  t.diagnostic(`schema problems: exit ${schema.code} after ${schema.ms.toFixed(0)} ms`);
  assert.equal(schema.code, 2, schema.stderr);
  assert.ok(schema.ms < 5000, `took ${schema.ms.toFixed(0)} ms`);
  assert.match(schema.stderr, /^vigild: invalid configuration in .*schema\.yaml:\n/);
  for (const problem of [
    /^ {2}device\.id: expected 1-64 letters/m,
    /^ {2}mqtt\.url: expected an mqtt:\/\//m,
    /^ {2}streams\[0\]\.uri: expected a file:\/\/, rtsp:\/\/ or test:\/\/ URI/m,
    /^ {2}streams\[0\]\.fps: .*>0/m,
    /^ {2}streams\[0\]: Unrecognized key: "colour"/m,
    /^ {2}rules\[0\]\.classes: .*>=1/m,
    /^ {2}rules\[0\]\.min_score: .*<=1/m,
  ]) assert.match(schema.stderr, problem);
  assert.equal(schema.stdout, '', 'nothing on stdout: no logger was started');
  assert.equal(existsSync(storage), false, 'no storage directory or database was created');

  // Cross-references, all at once too (with schema problems they come in the same pass: test/config/hostile.test.ts).
  const refs = await runInvalid(t, dir, 'refs.yaml', [
    'device: { id: box, site: yard }',
    `storage: { dir: ${JSON.stringify(storage)} }`,
    'mqtt: { url: "mqtt://127.0.0.1:1" }',
    'models: [{ name: det, manifest: det.json }]',
    'streams:',
    '  - { id: gate, uri: "file:///x.mp4", model: other }',
    '  - { id: gate, uri: "test://ball" }',
    'rules:',
    '  - { id: r1, stream: nowhere, kind: presence, classes: [person] }',
    '',
  ].join('\n'));
  assert.equal(refs.code, 2, refs.stderr);
  assert.match(refs.stderr, /^ {2}streams\[0\]\.model: unknown model "other" \(configured: det\)$/m);
  assert.match(refs.stderr, /^ {2}streams\[1\]\.id: duplicate id "gate"$/m);
  assert.match(refs.stderr, /^ {2}rules\[0\]\.stream: unknown stream "nowhere"$/m);

  const syntax = await runInvalid(t, dir, 'syntax.yaml', 'device: [\n  id: x\n');
  assert.equal(syntax.code, 2, syntax.stderr);
  assert.match(syntax.stderr, /syntax\.yaml:\n {2}line \d+, column \d+: /);

  const empty = await runInvalid(t, dir, 'empty.yaml', '');
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /empty\.yaml:\n {2}\(root\): /);
  const gone = spawnDaemon(t, ['--config', path.join(dir, 'no-such.yaml')]);
  const goneExit = await gone.waitForExit();
  assert.equal(goneExit.code, 2);
  assert.match(gone.stderr(), /no configuration at .*no-such\.yaml\. Try `npx vigild --demo`/);

  const flag = await runInvalid(t, dir, 'flag.yaml', '', ['--no-such-flag']);
  assert.equal(flag.code, 2, 'unknown flag is a usage error');
  assert.match(flag.stderr, /unknown option '--no-such-flag'/);

  // The same problems with --check-config: 2 as well, and 0 with a line on stdout for a valid file.
  const checked = await runInvalid(t, dir, 'schema2.yaml', 'device: { id: box, site: yard }\nmqtt: { url: nope }\n', ['--check-config']);
  assert.equal(checked.code, 2);
  assert.match(checked.stderr, /^ {2}mqtt\.url: /m);
  const valid = await runInvalid(t, dir, 'valid.yaml', 'device: { id: box, site: yard }\nmqtt: { url: "mqtt://127.0.0.1:1" }\nstreams: [{ id: a, uri: "test://ball" }]\n', ['--check-config']);
  assert.equal(valid.code, 0, valid.stderr);
  assert.match(valid.stdout, /valid\.yaml: valid \(1 streams, 0 rules\)/);
  assert.equal(existsSync(storage), false, '--check-config opens nothing');
});

test('bad models and unreachable cameras are each logged clearly while a good stream keeps alerting', async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-bad-');
  const clip = await makeDogClip(dir);
  const broker = await startMosquitto(t);
  const hub = await subscribe(t, broker.url, 'vigil/v1/+/+/alerts');

  // Three broken manifests next to the config; their relative files resolve against models_dir.
  const good = JSON.parse(await readFile(manifestPath('nanodet-m'), 'utf8')) as Record<string, unknown>;
  assert.equal(good['sha256'], NANODET_SHA);
  const wrongSha = `${'0'.repeat(8)}${NANODET_SHA.slice(8)}`;
  const manifests = {
    badsha: { ...good, sha256: wrongSha },
    nofile: { ...good, file: 'nanodet-m/missing.onnx' },
    nofamily: { ...good, family: 'ssd' },
  };
  for (const [name, m] of Object.entries(manifests)) await writeFile(path.join(dir, `${name}.json`), JSON.stringify(m, null, 2));

  const closedPort = await freePort();
  const rtspUri = `rtsp://opsuser:secret@127.0.0.1:${closedPort}/x`;
  const missingClip = path.join(dir, 'no-such-clip.mp4');
  const retry = { restart_min_ms: 200, restart_max_ms: 1000 };
  const clipUri = pathToFileURL(clip).href;
  const config = await writeConfig(dir, {
    device: { id: 'box-9', site: 'depot' },
    storage: { dir: path.join(dir, 'state') },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: MODELS_DIR,
    inference: { providers: ['cpu'] },
    models: [
      { name: 'nanodet', manifest: manifestPath('nanodet-m') },
      { name: 'badsha', manifest: 'badsha.json' },
      { name: 'nofile', manifest: 'nofile.json' },
      { name: 'nofamily', manifest: 'nofamily.json' },
    ],
    streams: [
      { id: 'good', uri: clipUri, model: 'nanodet', loop: true },
      { id: 's-badsha', uri: clipUri, model: 'badsha', loop: true },
      { id: 's-nofile', uri: clipUri, model: 'nofile', loop: true },
      { id: 's-nofamily', uri: clipUri, model: 'nofamily', loop: true },
      { id: 'cam-rtsp', uri: rtspUri, model: 'nanodet', ...retry },
      { id: 'cam-gone', uri: pathToFileURL(missingClip).href, model: 'nanodet', ...retry },
    ],
    rules: ['good', 's-badsha', 's-nofile', 's-nofamily', 'cam-rtsp', 'cam-gone'].map((stream) => ({
      id: `dog-${stream}`, stream, kind: 'presence' as const, classes: ['dog'], min_score: 0.3, cooldown_s: 0,
    })),
  });
  const vigild = spawnDaemon(t, ['--config', config]);
  const unusable = (model: string) => (l: LogLine): boolean =>
    l.level === 'error' && l.msg === 'model unusable: its streams run with motion detection only' && l['model'] === model;

  // (b) wrong sha256: the model is named, with both hashes.
  const sha = await vigild.waitForLine('the sha256 mismatch', unusable('badsha'));
  assert.equal(sha['manifest'], path.join(dir, 'badsha.json'));
  assert.match(String(sha['err']), new RegExp(`sha256 mismatch: expected ${wrongSha}, actual ${NANODET_SHA}`));
  assert.ok(String(sha['err']).includes(path.join(MODELS_DIR, 'nanodet-m', 'model.onnx')));
  // (c) missing model file: the path that was looked for.
  const nofile = await vigild.waitForLine('the missing model file', unusable('nofile'));
  assert.match(String(nofile['err']), /model file not found or unreadable: ENOENT/);
  assert.ok(String(nofile['err']).includes(path.join(MODELS_DIR, 'nanodet-m', 'missing.onnx')));
  // (d) unknown family: the manifest and the field, with the families that exist.
  const family = await vigild.waitForLine('the unknown family', unusable('nofamily'));
  assert.ok(String(family['err']).includes(`invalid model manifest ${path.join(dir, 'nofamily.json')}`), String(family['err']));
  assert.match(String(family['err']), /family: .*"nanodet".*"yolox"/);
  for (const stream of ['s-badsha', 's-nofile', 's-nofamily']) {
    await vigild.waitForLine(`the warning that ${stream}'s rule cannot fire`, (l) =>
      l.level === 'warn' && l.msg === 'stream has rules but no working model: the rules cannot fire' && l['stream'] === stream);
  }
  assert.ok(vigild.lines.some((l) => l.msg === 'model loaded' && l['model'] === 'nanodet'), 'the good model loaded');

  // (e) unreachable cameras: one warning per attempt, the URI without its credentials, retried.
  const redacted = `rtsp://***@127.0.0.1:${closedPort}/x`;
  const failed = (stream: string, attempt: number) => (l: LogLine): boolean =>
    l.level === 'warn' && l.msg === 'stream failed; retrying' && l['stream'] === stream && Number(l['attempt']) >= attempt;
  const rtsp = await vigild.waitForLine('the RTSP camera to fail twice', failed('cam-rtsp', 2));
  assert.equal(rtsp['uri'], redacted);
  assert.match(String(rtsp['err']), /^rtsp source: Could not open resource/);
  const gone = await vigild.waitForLine('the missing clip to fail twice', failed('cam-gone', 2));
  assert.equal(gone['uri'], pathToFileURL(missingClip).href);
  assert.equal(gone['err'], `file not found: ${missingClip}`);

  // Meanwhile the good stream goes on: alerts keep arriving after every failure above was logged.
  const alertsFrom = (stream: string): number => hub.messages.filter((m) => (m.json as { stream: string }).stream === stream).length;
  const before = alertsFrom('good');
  const linesBefore = vigild.lines.length;
  await waitFor('two more alerts from the good stream', () => alertsFrom('good') >= before + 2 || undefined, 20_000);
  await vigild.waitForLine('another retry of the RTSP camera', failed('cam-rtsp', 3), 20_000, linesBefore);
  assert.equal(vigild.child.exitCode, null, 'vigild is still running');
  assert.equal(hub.messages.length, alertsFrom('good'), 'no alert from a stream without a working model or without video');

  const exit = await vigild.stop('SIGTERM');
  assert.equal(exit.code, 0, vigild.stderr());
  assert.ok(exit.ms < 5000, `exited ${exit.ms.toFixed(0)} ms after SIGTERM`);
  assert.deepEqual(vigild.badLines, []);
  for (const where of [vigild.stdout(), vigild.stderr()]) {
    assert.equal(where.includes('secret'), false, 'the camera password never reaches the log');
    assert.equal(where.includes('opsuser'), false, 'nor the camera user');
  }
  t.diagnostic(`good stream: ${alertsFrom('good')} alerts; RTSP attempts logged: ${vigild.lines.filter(failed('cam-rtsp', 1)).length}`);
});
