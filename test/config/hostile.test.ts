import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../daemon/node-flags.cjs';
import { DAEMON_MAIN, manifestPath, MODELS_DIR } from '../e2e/daemon-harness.js';
import { tempDir } from '../helpers/shared.js';

/**
 * A corpus of hostile and broken configs, each run through the real `vigild` executable: every one
 * must end with exit 2 and the file named on stderr, within seconds, never by a signal (a native
 * abort is SIGABRT, exit 134) and never with exit 1 (which systemd's Restart=on-failure repeats).
 */

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/** A run of vigild as the unit starts it, without the caller's VIGIL_* variables; killed after `timeoutMs`. */
function vigild(args: string[], timeoutMs = 30_000): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VIGIL_') && k !== 'UV_THREADPOOL_SIZE') env[k] = v;
  const started = performance.now();
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, DAEMON_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ...DAEMON_ENV } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => child.once('close', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
  }));
}

const HEAD = 'device: { id: box, site: yard }\nmqtt: { url: "mqtt://127.0.0.1:1" }\n';

/** Exit 2, the file named in the first line, each expected problem on a line of its own. */
function assertRefused(run: Run, file: string, ...problems: RegExp[]): void {
  const what = `${path.basename(file)}: exit ${run.code} signal ${run.signal}\n${run.stderr.slice(0, 2000)}`;
  assert.equal(run.signal, null, what);
  assert.equal(run.code, 2, what);
  assert.ok(run.stderr.startsWith(`vigild: invalid configuration in ${file}:\n`), what);
  for (const p of problems) assert.match(run.stderr, p, what);
  assert.ok(run.ms < 15_000, `${what}\ntook ${run.ms.toFixed(0)} ms`);
}

interface Case { name: string; body: string | Buffer | ((dir: string) => string | Promise<string>); problems: RegExp[]; args?: string[] }

/** Nested block mappings, one level per line: `depth` levels under `x`. */
const blockNest = (depth: number): string => Array.from({ length: depth }, (_, i) => `${' '.repeat(i + 1)}k:`).join('\n');

/** The classic "billion laughs": `levels` anchors, each a list of `fan` aliases of the one before. */
function aliasBomb(levels: number, fan: number): string {
  const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: fan }, () => `*a${i - 1}`).join(', ')}]`);
  return lines.join('\n');
}

const CORPUS: Case[] = [
  { name: 'deep-flow', body: `${HEAD}streams: ${'['.repeat(2000)}${']'.repeat(2000)}\n`, problems: [/^ {2}line 3, column \d+: nested deeper than 64 levels$/m] },
  { name: 'deep-flow-unclosed', body: `${HEAD}streams: ${'{a: ['.repeat(900)}\n`, problems: [/^ {2}line 3, column \d+: nested deeper than 64 levels$/m] },
  { name: 'deep-block', body: `${HEAD}x:\n${blockNest(90)}\n`, problems: [/^ {2}line \d+, column \d+: nested deeper than 64 levels$/m] },
  { name: 'deep-compact-seq', body: `${HEAD}streams:\n${'- '.repeat(2000)}x\n`, problems: [/nested deeper than 64 levels/] },
  // 800 levels of explicit keys: 3.2 KB that kept yaml's toJS busy for minutes.
  { name: 'nested-keys', body: `${HEAD}streams: ${'{? '.repeat(800)}x${'}'.repeat(800)}\n`, problems: [/^ {2}line 3, column \d+: a mapping key must be a plain value/m] },
  { name: 'collection-key', body: `${HEAD}streams: { [a, b]: 1 }\n`, problems: [/a mapping key must be a plain value/] },
  { name: 'alias-bomb-wide', body: `${HEAD}${aliasBomb(12, 10)}\n`, problems: [/^ {2}line \d+, column \d+: more than 100 aliases/m] },
  { name: 'alias-bomb-narrow', body: `${HEAD}${aliasBomb(9, 9)}\n`, problems: [/^ {2}YAML: Excessive alias count/m] },
  { name: 'unknown-alias', body: `${HEAD}streams: *nowhere\n`, problems: [/^ {2}line 3, column 10: alias \*nowhere has no anchor &nowhere before it$/m] },
  { name: 'self-alias', body: `${HEAD}streams: &a [{ id: a, uri: "test://x" }, *a]\n`, problems: [/^ {2}line 3, column 42: alias \*a is inside the node it names$/m] },
  { name: 'huge', body: `${HEAD}${'# padding padding padding padding padding padding padding padding\n'.repeat(20_000)}`, problems: [/^ {2}larger than 1048576 bytes/m] },
  { name: 'binary-nul', body: Buffer.concat([Buffer.from(HEAD), randomBytes(4096), Buffer.from([0])]), problems: [/^ {2}line \d+: a NUL byte: not a text file$/m] },
  { name: 'binary-latin1', body: Buffer.from(`${HEAD}streams: [{ id: caf\xe9, uri: "test://x" }]\n`, 'latin1'), problems: [/^ {2}line 3: not UTF-8 text$/m] },
  { name: 'two-documents', body: `${HEAD}---\n${HEAD}`, problems: [/multiple documents/] },
  { name: 'scalar-root', body: 'just a string\n', problems: [/^ {2}\(root\): .*expected object/m] },
  { name: 'wrong-types', body: 'device: 5\nmqtt: [1]\nstreams: { a: 1 }\nrules: "all"\nstorage: /var/lib/vigil\n', problems: [
    /^ {2}device: .*expected object, received number/m, /^ {2}mqtt: .*expected object, received array/m,
    /^ {2}streams: .*expected array/m, /^ {2}rules: .*expected array/m, /^ {2}storage: .*expected object, received string/m] },
  { name: 'long-socket', body: `${HEAD}control: { socket: /tmp/${'s'.repeat(110)}.sock }\n`,
    problems: [/^ {2}control\.socket: \/tmp\/s+\.sock is 120 bytes; a Unix socket path holds at most 107$/m] },
  { name: 'missing-tls', body: 'device: { id: box, site: yard }\nmqtt: { url: "mqtts://127.0.0.1:8883", ca: ./ca.pem, cert: /nonexistent/dev.crt, key: ./dev.key }\n',
    problems: [/^ {2}mqtt\.ca: cannot read \/.*\/ca\.pem: no such file \(ENOENT\)$/m, /^ {2}mqtt\.cert: cannot read \/nonexistent\/dev\.crt: no such file/m, /^ {2}mqtt\.key: cannot read .*dev\.key/m] },
  { name: 'tls-cert-without-key', body: (dir) => `device: { id: box, site: yard }\nmqtt: { url: "mqtts://h:8883", cert: ${path.join(dir, 'tls-cert-without-key.yaml')} }\n`,
    problems: [/^ {2}mqtt\.key: mqtt\.cert and mqtt\.key go together/m] },
  { name: 'misspelt-class', body: `${HEAD}models_dir: ${MODELS_DIR}\nmodels: [{ name: yolox-nano, manifest: ${manifestPath('yolox-nano')} }]\n` +
    'streams: [{ id: gate, uri: "test://ball", model: yolox-nano }]\n' +
    'rules:\n  - { id: r0, stream: gate, kind: presence, classes: [person] }\n  - { id: r1, stream: gate, kind: presence, classes: [car, Bicycle, persn, unicorn] }\n',
  problems: [/^ {2}rules\[1\]\.classes\[1\]: 'Bicycle' is not a class of model yolox-nano \(did you mean 'bicycle'\?\)$/m,
    /^ {2}rules\[1\]\.classes\[2\]: 'persn' is not a class of model yolox-nano \(did you mean 'person'\?\)$/m,
    /^ {2}rules\[1\]\.classes\[3\]: 'unicorn' is not a class of model yolox-nano$/m] },
  { name: 'missing-manifest', body: `${HEAD}models: [{ name: det, manifest: ./no-such-model.json }]\n`, problems: [/^ {2}models\[0\]\.manifest: cannot read \/.*\/no-such-model\.json: no such file \(ENOENT\)$/m] },
  { name: 'manifest-not-json', body: (dir) => `${HEAD}models: [{ name: det, manifest: ${path.join(dir, 'manifest-not-json.yaml')} }]\n`, problems: [/^ {2}models\[0\]\.manifest: .* is not JSON/m] },
  { name: 'missing-keys', body: `${HEAD}model_store: { trusted_keys: [./publisher.pub] }\n` +
    'learning: { enabled: true, hub_sign_key: ./hub-sign.pub, hub_encrypt_key: ./hub-enc.pub, embedding_model: ./osnet.onnx }\n',
  problems: [/^ {2}model_store\.trusted_keys\[0\]: cannot read trusted key \/.*publisher\.pub/m, /^ {2}learning\.hub_sign_key: key \/.*hub-sign\.pub: not a readable PEM/m,
    /^ {2}learning\.hub_encrypt_key: /m, /^ {2}learning\.embedding_model: cannot read \/.*osnet\.onnx: no such file/m] },
  { name: 'hook-not-there', body: `${HEAD}actions: { on: [{ severities: [alert], command: [/nonexistent/hook.sh] }] }\n`, problems: [/^ {2}actions\.on\[0\]\.command\[0\]: \/nonexistent\/hook\.sh is not an executable file/m] },
  // Issue 25: schema errors and cross-references of the parts that are valid, in one pass.
  { name: 'all-at-once', body: 'device: { id: "bad id!", site: yard }\nmqtt: { url: "mqtt://127.0.0.1:1" }\n' +
    'streams: [{ id: gate, uri: "ftp://x" }, { id: door, uri: "test://ball", model: nope }]\n' +
    'rules: [{ id: r0, stream: nowhere, kind: presence, classes: [person] }, { id: r1, stream: gate, kind: presence, classes: [person] }]\n' +
    'control: { socket: ./' + 'x'.repeat(120) + ' }\n',
  problems: [/^ {2}device\.id: expected 1-64/m, /^ {2}streams\[0\]\.uri: /m, /^ {2}streams\[1\]\.model: unknown model "nope"/m,
    /^ {2}rules\[0\]\.stream: unknown stream "nowhere"$/m, /^ {2}control\.socket: .* bytes; a Unix socket path holds at most 107$/m] },
];

test('every config of the hostile corpus is refused by `vigild --check-config` with exit 2 and the file named, never a signal', async (t) => {
  const dir = await tempDir(t, 'vigil-hostile-');
  const runs: string[] = [];
  for (const c of CORPUS) {
    const file = path.join(dir, `${c.name}.yaml`);
    const body = typeof c.body === 'function' ? await c.body(dir) : c.body;
    await writeFile(file, body);
    const run = await vigild(['--check-config', '--config', file, ...c.args ?? []]);
    assertRefused(run, file, ...c.problems);
    assert.equal(run.stdout, '', `${c.name}: nothing on stdout`);
    runs.push(`${c.name} ${run.ms.toFixed(0)} ms`);
  }
  t.diagnostic(runs.join(', '));
});

test('a directory, a missing file and /dev/zero as the config are refused with exit 2', async (t) => {
  const dir = await tempDir(t, 'vigil-hostile-');
  await mkdir(path.join(dir, 'conf.yaml'));
  assertRefused(await vigild(['--check-config', '--config', path.join(dir, 'conf.yaml')]), path.join(dir, 'conf.yaml'), /^ {2}cannot read file: it is a directory$/m);
  const zero = await vigild(['--check-config', '--config', '/dev/zero']);
  assertRefused(zero, '/dev/zero', /^ {2}larger than 1048576 bytes/m);
});

test('the daemon\'s start refuses what the check refuses: exit 2, file named, nothing opened', async (t) => {
  const dir = await tempDir(t, 'vigil-hostile-');
  const state = path.join(dir, 'state');
  const deep = path.join(dir, 'deep.yaml');
  await writeFile(deep, `${HEAD}storage: { dir: ${state} }\nstreams: ${'['.repeat(3000)}${']'.repeat(3000)}\n`);
  assertRefused(await vigild(['--config', deep]), deep, /nested deeper than 64 levels/);
  const socket = path.join(dir, 'socket.yaml');
  await writeFile(socket, `${HEAD}storage: { dir: ${state} }\ncontrol: { socket: ${path.join(dir, 'x'.repeat(110))} }\n`);
  assertRefused(await vigild(['--config', socket]), socket, /^ {2}control\.socket: .* bytes; a Unix socket path holds at most 107$/m);
  // Through the override as well: the path the daemon would bind is the one checked.
  const ok = path.join(dir, 'ok.yaml');
  await writeFile(ok, `${HEAD}storage: { dir: ${state} }\n`);
  assertRefused(await vigild(['--config', ok, '--socket', path.join(dir, 'y'.repeat(110))]), ok, /^ {2}control\.socket: /m);
  assert.equal(existsSync(state), false, 'a refused config opens no state directory');
});

test('the path overrides are applied before validation, so what the daemon would run with passes the check', async (t) => {
  const dir = await tempDir(t, 'vigil-hostile-');
  for (const [name, storage] of [['empty-dir', '{ dir: "" }'], ['null', '~'], ['no-dir', '{ max_db_mb: 64 }']] as const) {
    const file = path.join(dir, `${name}.yaml`);
    await writeFile(file, `${HEAD}storage: ${storage}\n`);
    const run = await vigild(['--check-config', '--config', file, '--state-dir', path.join(dir, 'state')]);
    assert.equal(run.code, 0, `${name}: ${run.stderr}`);
    assert.match(run.stdout, /valid \(0 streams, 0 rules\)/);
  }
  // Without the override the empty dir is the file's own problem.
  const file = path.join(dir, 'empty-dir.yaml');
  assertRefused(await vigild(['--check-config', '--config', file]), file, /^ {2}storage\.dir: /m);
});

test('a valid config with TLS files, a model, its classes and keys passes the check', async (t) => {
  const dir = await tempDir(t, 'vigil-hostile-');
  for (const f of ['ca.pem', 'dev.crt', 'dev.key']) await writeFile(path.join(dir, f), '-----BEGIN CERTIFICATE-----\n');
  const file = path.join(dir, 'vigil.yaml');
  await writeFile(file, 'device: { id: box, site: yard }\nmqtt: { url: "mqtts://127.0.0.1:8883", ca: ca.pem, cert: ./dev.crt, key: dev.key }\n' +
    `models_dir: ${MODELS_DIR}\nmodels: [{ name: yolox-nano, manifest: ${manifestPath('yolox-nano')} }]\n` +
    'streams: [{ id: gate, uri: "test://ball", model: yolox-nano }, { id: yard, uri: "test://ball" }]\n' +
    'rules: [{ id: r0, stream: gate, kind: presence, classes: [person, "sports ball"] }, { id: r1, stream: yard, kind: presence, classes: [anything] }]\n' +
    `control: { socket: ${path.join(dir, 'vigild.sock')} }\n`);
  const run = await vigild(['--check-config', '--config', file]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${file}: valid (2 streams, 2 rules)\n`);
});

test('--root checks a device\'s config where its files are on this machine (an image, a provisioning root)', async (t) => {
  const root = await tempDir(t, 'vigil-hostile-root-');
  const etc = path.join(root, 'etc', 'vigil-device');
  await mkdir(etc, { recursive: true });
  await writeFile(path.join(etc, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n');
  const file = path.join(etc, 'vigil.yaml');
  await writeFile(file, 'device: { id: box, site: yard }\nmqtt: { url: "mqtts://hub:8883", ca: /etc/vigil-device/ca.pem }\n');
  assertRefused(await vigild(['--check-config', '--config', file]), file, /^ {2}mqtt\.ca: cannot read \/etc\/vigil-device\/ca\.pem: no such file/m);
  const rooted = await vigild(['--check-config', '--config', file, '--root', root]);
  assert.equal(rooted.code, 0, rooted.stderr);
  const misuse = await vigild(['--config', file, '--root', root]);
  assert.equal(misuse.code, 2);
  assert.match(misuse.stderr, /--root goes with --check-config only/);
});
