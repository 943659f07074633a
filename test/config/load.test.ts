import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfigFile, parseConfigText } from '../../daemon/config/load.js';
import { ConfigError } from '../../daemon/errors.js';
import { tempDir } from '../helpers/shared.js';

const valid = `
device:  { id: cam-017, site: depot-3 }
storage: { dir: ./state }
mqtt:    { url: mqtt://127.0.0.1:1883 }
models:
  - { name: nanodet-m, manifest: ./models/nanodet-m.json }
streams:
  - { id: gate, uri: file:///tmp/clip.mp4, model: nanodet-m, fps: 5, loop: true }
rules:
  - { id: person-in-view, stream: gate, kind: presence, classes: [person], min_score: 0.4, severity: alert }
`;

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    return err.problems;
  }
  assert.fail('expected the config to be rejected');
}

test('the documented example is valid and gets defaults', () => {
  const cfg = parseConfigText(valid, 'vigil.yaml');
  assert.equal(cfg.device.id, 'cam-017');
  assert.equal(cfg.streams[0]?.fps, 5);
  assert.equal(cfg.streams[0]?.rtsp_transport, 'tcp');
  assert.equal(cfg.rules[0]?.cooldown_s, 30);
  assert.deepEqual(cfg.inference.providers, ['tensorrt', 'cuda', 'cpu']);
});

test('every error is reported at once, each with its path', () => {
  const text = `
device: { id: "bad id!", site: depot-3 }
mqtt: { url: http://example.com }
streams:
  - { id: gate, uri: ftp://x, fps: -1, colour: red }
rules:
  - { id: r1, stream: gate, kind: presence, classes: [], min_score: 2 }
`;
  const problems = problemsOf(() => parseConfigText(text, 'x.yaml'));
  const paths = problems.map((p) => p.split(':')[0]);
  for (const want of ['device.id', 'mqtt.url', 'streams[0].uri', 'streams[0].fps', 'streams[0]', 'rules[0].classes', 'rules[0].min_score']) {
    assert.ok(paths.includes(want), `missing problem for ${want} in:\n${problems.join('\n')}`);
  }
  assert.ok(problems.some((p) => p.includes('colour')), 'the unknown key is named');
});

test('references between sections are checked', () => {
  const text = valid.replace('model: nanodet-m', 'model: yolo').replace('stream: gate', 'stream: door');
  const problems = problemsOf(() => parseConfigText(text, 'x.yaml'));
  assert.ok(problems.includes('streams[0].model: unknown model "yolo" (configured: nanodet-m)'), problems.join('\n'));
  assert.ok(problems.includes('rules[0].stream: unknown stream "door"'), problems.join('\n'));
});

test('YAML syntax errors name the line', () => {
  const problems = problemsOf(() => parseConfigText('device: { id: a\nmqtt: [', 'x.yaml'));
  assert.match(problems[0] ?? '', /^line \d+, column \d+: /);
});

test('a missing file is a config error naming the file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'none.yaml');
  assert.throws(() => loadConfigFile(file), (err: unknown) =>
    err instanceof ConfigError && err.message.includes(file) && err.problems[0] === 'cannot read file: ENOENT');
});

test('relative paths resolve against the file; environment overrides win', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'vigil.yaml');
  await writeFile(file, valid);
  const cfg = loadConfigFile(file);
  assert.equal(cfg.storage.dir, path.join(dir, 'state'));
  assert.equal(cfg.models[0]?.manifest, path.join(dir, 'models', 'nanodet-m.json'));
  const over = loadConfigFile(file, { storageDir: '/tmp/elsewhere', mqttUrl: 'mqtt://127.0.0.1:9', modelsDir: 'm' });
  assert.equal(over.storage.dir, '/tmp/elsewhere');
  assert.equal(over.mqtt.url, 'mqtt://127.0.0.1:9');
  assert.equal(over.models_dir, path.join(dir, 'm'));
});

test('activity updates are throttled per stream, at least a second apart', () => {
  assert.equal(parseConfigText(valid, 'x.yaml').streams[0]?.activity_update_s, 30);
  const problems = problemsOf(() => parseConfigText(valid.replace('loop: true', 'loop: true, activity_update_s: 0'), 'x.yaml'));
  assert.ok(problems.some((p) => p.startsWith('streams[0].activity_update_s: ')), problems.join('\n'));
});

test('a device may not take a name that site-level topics use', () => {
  for (const name of ['models', 'fl']) {
    const text = valid.replace('id: cam-017', `id: ${name}`);
    assert.notEqual(text, valid);
    const problems = problemsOf(() => parseConfigText(text, 'x.yaml'));
    assert.ok(problems.includes('device.id: is reserved for site-level topics (models, fl)'), problems.join('\n'));
  }
});
