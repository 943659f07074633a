import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/shared.js';

/**
 * jetson.Dockerfile cannot be built here (no Docker engine, no Jetson), so what can be checked
 * without building is checked: stage references, pins, the final stage's user and health check,
 * the files it copies, and the onnxruntime build flags the Jetson needs.
 */

interface Instruction { op: string; args: string; line: number }
interface Stage { name: string | null; from: string; body: Instruction[] }

function parse(text: string): { globalArgs: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') start = i + 1;
    pending += `${line.replace(/\\$/, '')} `;
    if (line.endsWith('\\')) return;
    const m = /^(\w+)\s+(.*)$/.exec(pending.trim());
    if (m?.[1] && m[2] !== undefined) instructions.push({ op: m[1].toUpperCase(), args: m[2].trim(), line: start });
    pending = '';
  });
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      assert.ok(m?.[1], `line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ name: m[2] ?? null, from: m[1], body: [] });
    } else if (stages.length === 0) {
      assert.equal(ins.op, 'ARG', `line ${ins.line}: only ARG may precede the first FROM`);
      const [k, v] = ins.args.split('=');
      if (k !== undefined) globalArgs.set(k, v ?? '');
    } else {
      stages.at(-1)?.body.push(ins);
    }
  }
  return { globalArgs, stages };
}

const text = readFileSync(path.join(repoRoot, 'jetson.Dockerfile'), 'utf8');
const { globalArgs, stages } = parse(text);
const final = stages.at(-1);
const all = stages.flatMap((s) => s.body);
const expand = (s: string): string => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => globalArgs.get(a ?? b ?? '') ?? `<unset ${a ?? b}>`);

void test('jetson.Dockerfile: every FROM names an earlier stage or a pinned tag of the JetPack 6 base', () => {
  assert.ok(stages.length >= 4, 'node, ort-build, app-build and runtime stages');
  const seen = new Set<string>();
  for (const s of stages) {
    const image = expand(s.from);
    if (!seen.has(image)) {
      const m = /^([\w.\-/]+):([\w.-]+)$/.exec(image);
      assert.ok(m, `FROM ${s.from} (${image}) has no explicit tag`);
      assert.notEqual(m[2], 'latest');
      assert.match(image, /^nvcr\.io\/nvidia\/l4t-jetpack:r36\.\d+\.\d+$/, 'JetPack 6 (L4T r36) base');
    }
    if (s.name !== null) {
      assert.ok(!seen.has(s.name), `stage ${s.name} defined twice`);
      seen.add(s.name);
    }
  }
  assert.doesNotMatch(text, /:latest\b/);
  assert.deepEqual(stages.map((s) => s.name), ['node', 'ort-build', 'app-build', 'runtime']);
});

void test('jetson.Dockerfile: COPY --from names stages defined before it, and copied sources exist', () => {
  const defined = new Set<string>();
  for (const s of stages) {
    for (const ins of s.body.filter((i) => i.op === 'COPY')) {
      const from = /--from=(\S+)/.exec(ins.args)?.[1];
      const parts = ins.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      if (from !== undefined) {
        assert.ok(defined.has(from), `line ${ins.line}: COPY --from=${from} before that stage exists`);
      } else {
        for (const src of parts.slice(0, -1)) assert.ok(existsSync(path.join(repoRoot, src)), `line ${ins.line}: ${src} is not in the build context`);
      }
    }
    if (s.name !== null) defined.add(s.name);
  }
});

void test('jetson.Dockerfile: onnxruntime is built with TensorRT, CUDA and the Node binding, and npm ci fetches nothing', () => {
  const ortBuild = stages.find((s) => s.name === 'ort-build');
  const build = ortBuild?.body.find((i) => i.op === 'RUN' && i.args.includes('./build.sh'));
  assert.ok(build, 'a build.sh step in ort-build');
  for (const flag of ['--config Release', '--use_tensorrt', '--use_cuda', '--cuda_home /usr/local/cuda', '--cudnn_home /usr/lib/aarch64-linux-gnu',
    '--tensorrt_home /usr/lib/aarch64-linux-gnu', '--build_nodejs', '--parallel', '--skip_tests', 'CMAKE_CUDA_ARCHITECTURES=87']) {
    assert.ok(build.args.includes(flag), `build.sh lacks ${flag}`);
  }
  const appBuild = stages.find((s) => s.name === 'app-build');
  const envIdx = appBuild?.body.findIndex((i) => i.op === 'ENV' && /\bONNXRUNTIME_NODE_INSTALL=skip\b/.test(i.args)) ?? -1;
  const ciIdx = appBuild?.body.findIndex((i) => i.op === 'RUN' && i.args.includes('npm ci')) ?? -1;
  assert.ok(envIdx >= 0 && ciIdx > envIdx, 'ENV ONNXRUNTIME_NODE_INSTALL=skip is set before npm ci');
  assert.ok(appBuild?.body.some((i) => i.op === 'COPY' && i.args.includes('--from=ort-build') && i.args.includes('node_modules/onnxruntime-node/bin/napi-v6/linux/arm64')),
    'the npm binding is replaced by the TensorRT build');
  // The ORT version is pinned to what the app's JavaScript half expects.
  const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  assert.equal(globalArgs.get('ORT_VERSION'), lock.packages['node_modules/onnxruntime-node']?.version);
});

void test('jetson.Dockerfile: the runtime stage runs as a non-root user, checks health with vigilctl status, keeps state in volumes', () => {
  assert.ok(final);
  const users = final.body.filter((i) => i.op === 'USER').map((i) => i.args);
  assert.ok(users.length > 0, 'USER in the final stage');
  assert.doesNotMatch(users.at(-1) ?? '', /^(root|0)(:|$)/);
  const health = final.body.find((i) => i.op === 'HEALTHCHECK');
  assert.ok(health, 'HEALTHCHECK in the final stage');
  assert.match(health.args, /CMD \["vigilctl", "status", "--socket", "\/run\/vigil\/vigild\.sock"\]/);
  const volume = final.body.find((i) => i.op === 'VOLUME');
  assert.ok(volume?.args.includes('/var/lib/vigil') && volume.args.includes('/etc/vigil'));
  assert.ok(all.filter((i) => i.op === 'RUN' && i.args.includes('apt-get install')).every((i) => i.args.includes('rm -rf /var/lib/apt/lists')),
    'apt lists are cleaned in the layer that fills them');
  assert.match(text, /docker run .*--runtime nvidia/, 'the header documents docker run');
  assert.match(text, /docker build -f jetson\.Dockerfile/, 'the header documents docker build');
});
