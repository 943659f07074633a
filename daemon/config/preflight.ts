import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, errorMessage } from '../errors.js';
import { readLabels } from '../inference/labels.js';
import { manifestSchema, resolveModelFile } from '../inference/manifest.js';
import { readPrivateKey, readPublicKey } from '../learning/keys.js';
import { loadPublicKey } from '../models/keys.js';
import { collectConfig, configPath, isInlinePem, readConfigDocument, resolveConfigPaths, type PathOverrides } from './load.js';
import { oneLine } from './one-line.js';
import type { Config } from './schema.js';
import type { ConfigView } from './view.js';

/**
 * What the daemon's start needs beyond a valid schema, checked before anything starts: the files
 * the config names, the control socket's path, and the classes each rule asks its model for. Run by
 * `vigild --check-config` and by the daemon's start through the one function below, so a config
 * that passes the check starts, and one the daemon refuses, the check refuses too.
 */

/** Linux's sockaddr_un.sun_path holds 108 bytes, one of them the terminating NUL. */
const SOCKET_PATH_MAX = 107;

/** A model manifest is a few hundred bytes; far larger is not one. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

const REASONS: Record<string, string> = {
  ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'a directory, not a file', ENOTDIR: 'a folder on the way is a file',
};

function cannot(what: string, file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return `cannot read ${what}${file}: ${code !== undefined ? `${REASONS[code] ?? code} (${code})` : errorMessage(err)}`;
}

/** Undefined when `file` is a readable regular file, else why not. */
async function unreadable(file: string): Promise<string | undefined> {
  try {
    if ((await stat(file)).isDirectory()) return `cannot read ${file}: a directory, not a file`;
    await access(file, constants.R_OK);
    return undefined;
  } catch (err) {
    return cannot('', file, err);
  }
}

async function notExecutable(file: string): Promise<string | undefined> {
  try {
    if (!(await stat(file)).isFile()) return `${file} is not a file`;
    await access(file, constants.X_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `${file} is not an executable file: ${code !== undefined ? REASONS[code] ?? code : errorMessage(err)}`;
  }
}

/** Edit distance, for "did you mean"; labels are short, so the plain O(n·m) table is enough. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

function closestLabel(name: string, labels: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const same = labels.find((l) => l.toLowerCase() === lower);
  if (same !== undefined) return same;
  let best: { label: string; d: number } | undefined;
  for (const label of labels) {
    const d = distance(lower, label.toLowerCase());
    if (d <= Math.max(1, Math.floor(name.length / 3)) && (!best || d < best.d)) best = { label, d };
  }
  return best?.label;
}

/** The class names of a model, from its manifest and labels file; a string is why they cannot be read. */
async function modelLabels(manifestPath: string, modelsDir: string | undefined): Promise<readonly string[] | string> {
  let text: string;
  try {
    if ((await stat(manifestPath)).size > MAX_MANIFEST_BYTES) return `${manifestPath} is larger than ${MAX_MANIFEST_BYTES} bytes: not a model manifest`;
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    return cannot('', manifestPath, err);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return `${manifestPath} is not JSON: ${errorMessage(err)}`;
  }
  // Only the labels decide whether the config is consistent; the rest of the manifest (file,
  // checksum, family) is the model's, checked when it loads, where a bad one costs its streams
  // their detector but not the daemon (README "Models").
  const field = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>)['labels'] : undefined;
  const labels = manifestSchema.shape.labels.safeParse(field);
  if (!labels.success) return `${manifestPath}: labels: ${labels.error.issues[0]?.message ?? 'invalid'}`;
  if (Array.isArray(labels.data)) return labels.data;
  try {
    return await readLabels(resolveModelFile(labels.data, manifestPath, modelsDir), `labels file (named by ${manifestPath})`);
  } catch (err) {
    return errorMessage(err);
  }
}

/**
 * Every problem of the files, socket and classes that `view` names, each prefixed with its path.
 * Relative paths are resolved against `baseDir` (the config file's folder), as the daemon does.
 */
export async function preflightProblems(view: ConfigView, baseDir: string, root?: string): Promise<string[]> {
  const problems: string[] = [];
  // Where a file is on this machine: with a root (a device image, a provisioning root) absolute
  // paths are looked up under it; relative ones already are, through the file's own folder.
  const abs = (p: string): string => root !== undefined && path.isAbsolute(p) ? path.join(root, p) : configPath(baseDir, p);
  const check = async (where: string, problem: Promise<string | undefined>): Promise<void> => {
    const p = await problem;
    if (p !== undefined) problems.push(`${where}: ${p}`);
  };

  const { mqtt, control, storage, learning, model_store: modelStore, actions } = view;
  if (mqtt) {
    for (const key of ['ca', 'cert', 'key'] as const) {
      const file = mqtt[key];
      if (file !== undefined) await check(`mqtt.${key}`, unreadable(abs(file)));
    }
    if ((mqtt.cert === undefined) !== (mqtt.key === undefined)) problems.push(`mqtt.${mqtt.cert === undefined ? 'cert' : 'key'}: mqtt.cert and mqtt.key go together: give both or neither`);
  }

  if (control?.enabled) {
    // The path the daemon binds on the device, so never under the root.
    const socket = configPath(baseDir, control.socket);
    const bytes = Buffer.byteLength(socket);
    if (bytes > SOCKET_PATH_MAX) {
      problems.push(`control.socket: ${socket} is ${bytes} bytes; a Unix socket path holds at most ${SOCKET_PATH_MAX}`);
    }
  }

  if (storage) {
    const dir = abs(storage.dir);
    await stat(dir).then((s) => {
      if (!s.isDirectory()) problems.push(`storage.dir: ${dir} exists and is not a directory`);
    }, () => undefined);
  }
  const modelsDir = view.models_dir !== undefined ? abs(view.models_dir) : undefined;
  if (modelsDir !== undefined) {
    // Absent is fine (the model store makes it; a model whose files it lacks is reported by its manifest).
    await stat(modelsDir).then((s) => {
      if (!s.isDirectory()) problems.push(`models_dir: ${modelsDir} exists and is not a directory`);
    }, () => undefined);
  }

  const labelsOf = new Map<string, readonly string[]>();
  for (const [i, m] of view.models.entries()) {
    if (!m) continue;
    const labels = await modelLabels(abs(m.manifest), modelsDir);
    if (typeof labels === 'string') problems.push(`models[${i}].manifest: ${labels}`);
    else labelsOf.set(m.name, labels);
  }
  const modelOf = new Map(view.streams.flatMap((s) => s?.model !== undefined ? [[s.id, s.model] as const] : []));
  view.rules.forEach((r, i) => {
    const model = r ? modelOf.get(r.stream) : undefined;
    const labels = model !== undefined ? labelsOf.get(model) : undefined;
    if (!r || model === undefined || labels === undefined) return;
    r.classes.forEach((c, j) => {
      if (labels.includes(c)) return;
      const near = closestLabel(c, labels);
      problems.push(`rules[${i}].classes[${j}]: '${c}' is not a class of model ${model}${near !== undefined ? ` (did you mean '${near}'?)` : ''}`);
    });
  });

  for (const [i, ref] of (modelStore?.trusted_keys ?? []).entries()) {
    try {
      loadPublicKey(isInlinePem(ref) ? ref : abs(ref));
    } catch (err) {
      problems.push(`model_store.trusted_keys[${i}]: ${errorMessage(err)}`);
    }
  }

  if (learning?.enabled) {
    const key = (field: 'hub_sign_key' | 'hub_encrypt_key', type: 'ed25519' | 'x25519'): void => {
      const file = learning[field];
      if (file === undefined) return;
      try {
        readPublicKey(abs(file), type, 'key');
      } catch (err) {
        problems.push(`learning.${field}: ${errorMessage(err)}`);
      }
    };
    key('hub_sign_key', 'ed25519');
    key('hub_encrypt_key', 'x25519');
    // The device key is made at the first start when absent; one that exists must be usable.
    const device = learning.device_key !== undefined ? abs(learning.device_key) : undefined;
    if (device !== undefined && await stat(device).then(() => true, () => false)) {
      try {
        readPrivateKey(device, 'ed25519', 'key');
      } catch (err) {
        problems.push(`learning.device_key: ${errorMessage(err)}`);
      }
    }
    if (learning.embedding_model !== undefined) await check('learning.embedding_model', unreadable(abs(learning.embedding_model)));
  }

  // Hook programs given by path must be there; bare names are looked up in PATH when they run.
  for (const [i, a] of view.actionRules.entries()) {
    const program = a?.command?.[0];
    if (program !== undefined && path.isAbsolute(program)) await check(`actions.on[${i}].command[0]`, notExecutable(abs(program)));
  }
  if (actions && path.isAbsolute(actions.gpioset) && actions.on.some((a) => a.gpio !== undefined)) {
    await check('actions.gpioset', notExecutable(abs(actions.gpioset)));
  }
  return problems;
}

/**
 * The config as the daemon runs it, or a ConfigError listing every problem at once: YAML bounds,
 * schema, cross-references, files, socket and classes. `vigild --check-config` and the daemon's
 * start both come here, with the same path overrides.
 */
export async function loadCheckedConfig(file: string, overrides: PathOverrides = {}, opts: { root?: string | undefined } = {}): Promise<Config> {
  const { config, problems, view } = collectConfig(readConfigDocument(file), overrides);
  problems.push(...(await preflightProblems(view, path.dirname(path.resolve(file)), opts.root !== undefined ? path.resolve(opts.root) : undefined)).map(oneLine));
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems, file);
  return resolveConfigPaths(config, file);
}
