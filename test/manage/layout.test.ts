import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { parseDocument, type Document, type YAMLSeq } from 'yaml';
import type { Output } from '../../cli/output.js';
import { runVigilctl } from '../../cli/run.js';
import { renderEdited } from '../../daemon/manage/yaml-splice.js';
import { spawnDaemon } from '../e2e/daemon-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/shared.js';
import { writeFile } from 'node:fs/promises';

/** An operator's file: flow mappings, aligned values, a comment after a value, blank lines, quotes. */
const ORIGINAL = `# gate camera, added by J.
device: { id: cam-1, site: lab }
mqtt:
  url:   {broker}     # the hub
telemetry: { interval_s: 3600, prometheus: { enabled: false } }

streams:
  - { id: gate, uri: "test://ball?width=160&height=120&fps=5", fps: 2 }
  - id: yard
    uri: 'test://ball?width=160&height=120&fps=5'
    fps: 2

rules:
  - { id: door,  stream: gate, kind: presence, classes: [person], min_score: 0.5 }
  - id: yard-person
    stream: yard
    kind: presence
    classes: [person]
`;

function edited(text: string, edit: (d: Document) => void): string {
  const before = parseDocument(text);
  const after = before.clone();
  edit(after);
  return renderEdited(text, before, after);
}

void test('a live edit rewrites only what it changes: values, keys and items added or removed keep the rest byte for byte', () => {
  const text = ORIGINAL.replace('{broker}', 'mqtt://127.0.0.1:1883');
  const swap = (a: string, b: string): string => {
    assert.ok(text.includes(a), a);
    return text.replace(a, b);
  };
  assert.equal(edited(text, (d) => d.setIn(['rules', 0, 'min_score'], d.createNode(0.6))), swap('min_score: 0.5 }', 'min_score: 0.6 }'));
  assert.equal(edited(text, (d) => d.setIn(['mqtt', 'url'], d.createNode('mqtts://hub:8883'))), swap('url:   mqtt://127.0.0.1:1883     #', 'url:   mqtts://hub:8883     #'));
  // Quotes are kept; a string that needs quoting in a flow mapping gets them.
  assert.equal(edited(text, (d) => d.setIn(['streams', 1, 'uri'], d.createNode('test://ball'))), swap(`'test://ball?width=160&height=120&fps=5'`, `'test://ball'`));
  assert.equal(edited(text, (d) => d.setIn(['rules', 0, 'stream'], d.createNode('a,b'))), swap('stream: gate,', 'stream: "a,b",'));
  assert.equal(edited(text, (d) => d.setIn(['rules', 0, 'cooldown_s'], d.createNode(10))), swap('min_score: 0.5 }', 'min_score: 0.5, cooldown_s: 10 }'));
  assert.equal(edited(text, (d) => d.setIn(['rules', 1, 'min_score'], d.createNode(0.7))), swap('    classes: [person]\n', '    classes: [person]\n    min_score: 0.7\n'));
  assert.equal(edited(text, (d) => d.setIn(['rules', 1, 'classes'], d.createNode(['person', 'car']))), swap('    classes: [person]\n', '    classes: [person, car]\n'));
  assert.equal(edited(text, (d) => (d.get('streams', true) as YAMLSeq).add(d.createNode({ id: 'new', uri: 'test://x', fps: 1 }))),
    swap('    fps: 2\n\nrules:', '    fps: 2\n  - id: new\n    uri: test://x\n    fps: 1\n\nrules:'));
  assert.equal(edited(text, (d) => d.deleteIn(['rules', 0])), swap('  - { id: door,  stream: gate, kind: presence, classes: [person], min_score: 0.5 }\n', ''));
  assert.equal(edited(text, (d) => d.deleteIn(['streams', 1, 'fps'])), swap("fps=5'\n    fps: 2\n", "fps=5'\n"));
  // What it cannot place (a reordered list) is still written correctly, whole.
  const reordered = edited(text, (d) => (d.get('rules', true) as YAMLSeq).items.reverse());
  assert.deepEqual((parseDocument(reordered).toJS() as { rules: { id: string }[] }).rules.map((r) => r.id), ['yard-person', 'door']);
});

void test('vigilctl rules set on a running daemon changes only the edited value in its config file', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const file = path.join(dir, 'vigil.yaml');
  const text = ORIGINAL.replace('{broker}', broker.url).replace('device: {', `storage: { dir: ${path.join(dir, 'state')} }\ndevice: {`);
  await writeFile(file, text);
  const socket = path.join(dir, 'vigild.sock');
  const vigild = spawnDaemon(t, ['--config', file], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 30_000);
  const err: string[] = [];
  const output: Output = { raw: () => undefined, result: () => undefined, error: (s) => err.push(s) };
  assert.equal(await runVigilctl(['rules', 'set', 'door', 'min_score=0.65', '--socket', socket], output), 0, err.join('\n'));
  assert.equal(await readFile(file, 'utf8'), text.replace('min_score: 0.5 }', 'min_score: 0.65 }'));
  // A second edit works from what the first wrote.
  assert.equal(await runVigilctl(['streams', 'set', 'yard', 'fps=3', '--socket', socket], output), 0, err.join('\n'));
  assert.equal(await readFile(file, 'utf8'), text.replace('min_score: 0.5 }', 'min_score: 0.65 }').replace("fps=5'\n    fps: 2\n", "fps=5'\n    fps: 3\n"));
});
