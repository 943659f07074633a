/**
 * Downloads the default detectors from their upstream releases, checks them against the sha256
 * pinned in models/*.json, builds a signed package of each and installs it in the device's model
 * store. Run by `scripts/fetch-models`; see docs/models.md.
 *
 *   scripts/fetch-models [--state-dir /var/lib/vigil] [--key publisher.key.pem] [--base-url URL] [--only nanodet-m]
 *
 * --base-url (or VIGIL_MODELS_BASE_URL) replaces every upstream URL with <base>/<name>/model.onnx and
 * <base>/<name>/labels.txt: a mirror, or a local server in tests. Without --key a device-local
 * publisher key is made under <state>/models/keys/; add its .pub.pem to model_store.trusted_keys so
 * that the same packages can be installed on other devices too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { sha256File } from '../daemon/inference/checksum.js';
import { errorMessage } from '../daemon/errors.js';
import { manifestSchema } from '../daemon/inference/manifest.js';
import { download } from '../daemon/models/download.js';
import { loadPublicKey } from '../daemon/models/keys.js';
import { CONFIG_VERSION, ModelStore } from '../daemon/models/store.js';
import { build, keygen } from './package-model.js';

interface Source { name: string; model: string; labels: string; labelsSha256: string }

const COCO_LABELS_SHA256 = '634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84';

/** Upstream release files; the model checksums are the ones pinned in models/<name>.json. */
export const DEFAULT_SOURCES: readonly Source[] = [
  {
    name: 'nanodet-m',
    model: 'https://raw.githubusercontent.com/hpc203/nanodet-opncv-dnn-cpp-python/f46e225a0c92ef611395425940927cc4cbef3fb5/nanodet_m.onnx',
    labels: 'https://raw.githubusercontent.com/pjreddie/darknet/master/data/coco.names',
    labelsSha256: COCO_LABELS_SHA256,
  },
  {
    name: 'yolox-nano',
    model: 'https://raw.githubusercontent.com/hamacom2004jp/iinfer/c7f9a3c5216c6f8b3e8b35886f863dffa2dc0bf9/models/yolox_nano.onnx',
    labels: 'https://raw.githubusercontent.com/pjreddie/darknet/master/data/coco.names',
    labelsSha256: COCO_LABELS_SHA256,
  },
];

function repoRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '..', '..') : path.resolve(here, '..');
}

interface Options { stateDir: string; key?: string; baseUrl?: string; only: string[] }

async function fetchVerified(url: string, dest: string, sha256: string, what: string, print: (s: string) => void): Promise<void> {
  if (!existsSync(dest) || await sha256File(dest) !== sha256) {
    print(`downloading ${what} from ${url}`);
    let lastPct = -1;
    await download(url, dest, {
      onProgress: (p) => {
        const pct = p.total ? Math.floor((100 * p.received) / p.total) : -1;
        if (pct >= 0 && pct >= lastPct + 25) {
          lastPct = pct;
          print(`  ${what}: ${pct}% of ${p.total ?? '?'} bytes`);
        }
      },
    });
  }
  const actual = await sha256File(dest);
  if (actual !== sha256) throw new Error(`${what} from ${url}: sha256 ${actual}, expected ${sha256} (pinned); refusing it`);
}

export async function fetchModels(o: Options, print: (s: string) => void): Promise<void> {
  const root = repoRoot();
  const store = new ModelStore(path.join(o.stateDir, 'models'));
  let keyFile = o.key;
  let pubRef: string;
  if (keyFile === undefined) {
    const prefix = path.join(store.root, 'keys', 'fetch-models');
    if (!existsSync(`${prefix}.key.pem`)) {
      await mkdir(path.dirname(prefix), { recursive: true });
      print(keygen(prefix));
    }
    keyFile = `${prefix}.key.pem`;
    pubRef = `${prefix}.pub.pem`;
  } else {
    const { createPublicKey } = await import('node:crypto');
    pubRef = createPublicKey(readFileSync(keyFile, 'utf8')).export({ type: 'spki', format: 'pem' }).toString();
  }
  const trusted = [loadPublicKey(pubRef)];
  const sources = DEFAULT_SOURCES.filter((s) => o.only.length === 0 || o.only.includes(s.name));
  if (sources.length === 0) throw new Error(`--only: no such model (known: ${DEFAULT_SOURCES.map((s) => s.name).join(', ')})`);
  for (const s of sources) {
    const manifestFile = path.join(root, 'models', `${s.name}.json`);
    const pinned = manifestSchema.parse(JSON.parse(readFileSync(manifestFile, 'utf8')));
    const base = o.baseUrl?.replace(/\/+$/, '');
    const work = path.join(store.downloadsDir(), 'fetch-models', s.name);
    await mkdir(work, { recursive: true });
    const modelFile = path.join(work, 'model.onnx');
    const labelsFile = path.join(work, 'labels.txt');
    await fetchVerified(base ? `${base}/${s.name}/model.onnx` : s.model, modelFile, pinned.sha256, `${s.name} model`, print);
    await fetchVerified(base ? `${base}/${s.name}/labels.txt` : s.labels, labelsFile, s.labelsSha256, `${s.name} labels`, print);

    const localManifest = path.join(work, 'manifest.json');
    await writeFile(localManifest, JSON.stringify({ ...pinned, file: modelFile, labels: labelsFile }));
    const version = `upstream-${pinned.sha256.slice(0, 12)}`;
    const pkg = path.join(store.root, 'packages', `${s.name}-${version}.vpkg`);
    // The version is named by the pinned checksum: once in the store, it is this very model.
    const have = (await store.versions(s.name)).some((v) => v.version === version);
    if (!have) {
      print(await build({ manifest: localManifest, name: s.name, version, key: keyFile, out: pkg, publisher: 'scripts/fetch-models', variant: [], prefer: [], expect: [] }));
    }
    const r = have ? { version, installed: false } : await store.install(pkg, trusted);
    const pointer = await store.pointer(s.name);
    if (!pointer || pointer.active === CONFIG_VERSION) {
      await store.setPointer(s.name, { active: r.version, previous: CONFIG_VERSION, activated_at: new Date().toISOString(), state: 'active' });
    }
    print(`${s.name} ${r.version}: ${r.installed ? 'installed' : 'already installed'} in ${store.versionDir(s.name, r.version)}` +
      `${!pointer || pointer.active === CONFIG_VERSION ? ' (active at the next start of vigild)' : ` (active stays ${pointer.active})`}`);
    print(`  package: ${pkg}`);
  }
  print(`models are used by vigild for every models[].name in vigil.yaml that matches (${sources.map((s) => s.name).join(', ')}).`);
  print(`to install these packages on other devices, trust the key: model_store.trusted_keys: [${o.key === undefined ? pubRef : '<your .pub.pem>'}]`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const p = new Command('fetch-models')
    .description('download the default detectors, verify their pinned checksums and install them as signed packages')
    .option('--state-dir <dir>', 'vigild state directory; env VIGIL_STATE_DIR', process.env['VIGIL_STATE_DIR'] ?? '/var/lib/vigil')
    .option('--key <file>', 'publisher private key to sign with (default: a device-local key under <state>/models/keys)')
    .option('--base-url <url>', 'mirror holding <name>/model.onnx and <name>/labels.txt; env VIGIL_MODELS_BASE_URL', process.env['VIGIL_MODELS_BASE_URL'])
    .option('--only <name>', 'only this model (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[]);
  p.parse(process.argv);
  fetchModels(p.opts<Options>(), (s) => process.stdout.write(`${s}\n`)).catch((err: unknown) => {
    process.stderr.write(`fetch-models: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  });
}
