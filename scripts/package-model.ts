/**
 * Builds and signs model packages, and makes publisher keys.
 *
 *   node dist/scripts/package-model.js keygen --out keys/publisher
 *       writes keys/publisher.key.pem (private, mode 0600) and keys/publisher.pub.pem; prints the key id
 *   node dist/scripts/package-model.js build --manifest models/yolox-nano.json --models-dir ../shared/models \
 *       --name detector --version 2026.11.2 --key keys/publisher.key.pem --out detector-2026.11.2.vpkg \
 *       [--onnx other.onnx] [--variant fp16=model.onnx] [--variant int8=model-int8.onnx] \
 *       [--prefer jetson-orin=tensorrt:fp16] [--self-test-image dog.jpg --expect dog=133,205,325,543 ...]
 *
 * The input manifest is the one vigild reads (models/*.json): family, input, labels, thresholds.
 * Devices accept the package only when the public key is in their model_store.trusted_keys.
 * See docs/models.md.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { providerSchema } from '../daemon/config/schema.js';
import { errorMessage } from '../daemon/errors.js';
import { loadManifest } from '../daemon/inference/manifest.js';
import { generateKeyPair, loadPrivateKey } from '../daemon/models/keys.js';
import { writePackage, type PackageSource } from '../daemon/models/package-file.js';
import { precisionSchema, type PackageManifestInput } from '../daemon/models/package-manifest.js';
import { quantizeCommand } from '../cli/commands/models-quantize.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function parseExpect(v: string): { label: string; box: [number, number, number, number] } {
  const m = /^([^=]+)=(-?[\d.]+),(-?[\d.]+),(-?[\d.]+),(-?[\d.]+)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`expected label=x1,y1,x2,y2, got "${v}"`);
  return { label: m[1] ?? '', box: [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])] };
}

interface BuildOptions {
  manifest: string; modelsDir?: string; onnx?: string; name: string; version: string; key: string; out: string;
  publisher?: string; variant: string[]; prefer: string[]; selfTestImage?: string; expect: string[]; minIou?: string;
}

export async function build(o: BuildOptions): Promise<string> {
  const m = await loadManifest(o.manifest, o.modelsDir);
  const main = path.resolve(o.onnx ?? m.modelPath);
  const sources: PackageSource[] = [{ name: 'model.onnx', path: main }];
  const variants: { precision: 'fp32' | 'fp16' | 'int8'; file: string }[] = [{ precision: 'fp32', file: 'model.onnx' }];
  for (const v of o.variant) {
    const [p, file] = v.split('=', 2);
    const precision = precisionSchema.parse(p);
    if (!file) throw new InvalidArgumentError(`--variant ${v}: expected precision=file`);
    if (path.basename(file) === 'model.onnx' || path.resolve(file) === main) {
      variants.push({ precision, file: 'model.onnx' });
    } else {
      const name = `model.${precision}.onnx`;
      sources.push({ name, path: path.resolve(file) });
      variants.push({ precision, file: name });
    }
  }
  const preferred: Record<string, { provider?: 'tensorrt' | 'cuda' | 'cpu'; precision?: 'fp32' | 'fp16' | 'int8' }> = {};
  for (const p of o.prefer) {
    const mm = /^([^=]+)=([a-z]*)(?::([a-z0-9]+))?$/.exec(p);
    if (!mm?.[1]) throw new InvalidArgumentError(`--prefer ${p}: expected deviceclass=provider[:precision]`);
    preferred[mm[1]] = {
      ...(mm[2] ? { provider: providerSchema.parse(mm[2]) } : {}),
      ...(mm[3] ? { precision: precisionSchema.parse(mm[3]) } : {}),
    };
  }
  let selfTest: PackageManifestInput['self_test'];
  if (o.selfTestImage !== undefined) {
    const ext = path.extname(o.selfTestImage).toLowerCase();
    sources.push({ name: `self-test${ext}`, path: path.resolve(o.selfTestImage) });
    selfTest = { image: `self-test${ext}`, expect: o.expect.map(parseExpect), ...(o.minIou !== undefined ? { min_iou: Number(o.minIou) } : {}) };
  }
  const key = loadPrivateKey(o.key);
  const written = await writePackage(o.out, {
    schema: 'vigil.model-package/1', name: o.name, version: o.version, created: new Date().toISOString(),
    ...(o.publisher !== undefined ? { publisher: o.publisher } : {}),
    family: m.manifest.family, input: m.manifest.input, labels: [...m.labels], thresholds: m.manifest.thresholds,
    max_detections: m.manifest.max_detections, variants,
    ...(Object.keys(preferred).length > 0 ? { preferred } : {}),
    ...(selfTest ? { self_test: selfTest } : {}),
  }, sources, key);
  return `${o.out}: ${written.name} ${written.version}, ${written.files.length} file(s), signed by key ${key.id}`;
}

export function keygen(out: string): string {
  const k = generateKeyPair();
  mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  writeFileSync(`${out}.key.pem`, k.privatePem, { mode: 0o600 });
  chmodSync(`${out}.key.pem`, 0o600);
  writeFileSync(`${out}.pub.pem`, k.publicPem);
  return `key ${k.id}: private ${out}.key.pem (keep it off devices), public ${out}.pub.pem (add it to model_store.trusted_keys)`;
}

export function program(print: (s: string) => void): Command {
  const p = new Command('package-model').description('build and sign Vigil model packages').exitOverride();
  p.command('keygen').description('make an Ed25519 publisher key pair').requiredOption('--out <prefix>', 'writes <prefix>.key.pem and <prefix>.pub.pem')
    .action((o: { out: string }) => print(keygen(o.out)));
  p.command('build').description('build and sign a package from an ONNX file and a model manifest')
    .requiredOption('--manifest <file>', 'model manifest as vigild reads it (models/*.json)')
    .option('--models-dir <dir>', 'where the manifest\'s relative file and labels are')
    .option('--onnx <file>', 'the ONNX file (default: the manifest\'s own file)')
    .requiredOption('--name <name>', 'model name on devices (models[].name in vigil.yaml)')
    .requiredOption('--version <version>', 'package version')
    .requiredOption('--key <file>', 'publisher private key (PEM)')
    .requiredOption('--out <file>', 'package file to write')
    .option('--publisher <text>', 'who publishes it')
    .option('--variant <precision=file>', 'another precision: fp16=model.onnx (same file, TensorRT builds fp16) or int8=quantised.onnx', collect, [])
    .option('--prefer <class=provider[:precision]>', 'per device class, e.g. jetson-orin=tensorrt:fp16', collect, [])
    .option('--self-test-image <jpeg>', 'an image the model must get right before it serves streams')
    .option('--expect <label=x1,y1,x2,y2>', 'an object the self-test must find (source pixels)', collect, [])
    .option('--min-iou <n>', 'overlap each expected box needs (default 0.5)')
    .action(async (o: BuildOptions) => print(await build(o)));
  // The same code as `vigilctl models quantize`; with --package the INT8 file becomes the int8 variant of a signed package.
  p.addCommand(quantizeCommand(print, async (int8, o) => print(await build({ ...o, variant: [`int8=${int8}`] }))));
  return p;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  program((s) => process.stdout.write(`${s}\n`)).parseAsync(process.argv).catch((err: unknown) => {
    if ((err as { code?: string }).code?.startsWith('commander.')) {
      process.exitCode = (err as { exitCode?: number }).exitCode ?? 2;
      return;
    }
    process.stderr.write(`package-model: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  });
}
