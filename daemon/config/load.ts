import path from 'node:path';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseBoundedYaml, readBoundedFile } from './bounded-yaml.js';
import { oneLine } from './one-line.js';
import { referenceProblems } from './references.js';
import { configSchema, type Config } from './schema.js';
import { viewOfConfig, viewOfRaw, type ConfigView } from './view.js';
import { absolutePaths } from './config-paths.js';

/** Overrides that come from flags or the environment, so tests and packagers can move every path. */
export interface PathOverrides {
  storageDir?: string | undefined;
  modelsDir?: string | undefined;
  mqttUrl?: string | undefined;
  socket?: string | undefined;
}

export function overridesFromEnv(env: NodeJS.ProcessEnv = process.env): PathOverrides {
  return {
    storageDir: env['VIGIL_STATE_DIR'],
    modelsDir: env['VIGIL_MODELS_DIR'],
    mqttUrl: env['VIGIL_MQTT_URL'],
    socket: env['VIGIL_SOCKET'],
  };
}

function formatPath(p: readonly PropertyKey[]): string {
  return p.reduce<string>((acc, k) => typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k), '') || '(root)';
}

function formatIssue(issue: z.core.$ZodIssue): string {
  return `${formatPath(issue.path)}: ${issue.message}`;
}

/**
 * Applies the overrides to the parsed file before validation, so a value the daemon runs with is
 * the value that is validated (`--state-dir` replaces `storage.dir`, whatever the file says there).
 * A section that is absent or null becomes one holding the override alone; one of another type
 * (a string, a list) is left for the schema to report as it stands.
 */
function applyOverrides(raw: unknown, overrides: PathOverrides): void {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return;
  const obj = raw as Record<string, unknown>;
  const into = (section: string, key: string, value: string | undefined): void => {
    if (value === undefined) return;
    const current = obj[section];
    if (current === undefined || current === null) obj[section] = { [key]: value };
    else if (typeof current === 'object' && !Array.isArray(current)) obj[section] = { ...current, [key]: value };
  };
  into('mqtt', 'url', overrides.mqttUrl);
  into('storage', 'dir', overrides.storageDir);
  into('control', 'socket', overrides.socket);
  if (overrides.modelsDir !== undefined) obj['models_dir'] = overrides.modelsDir;
}

/** Every schema and cross-reference problem of a parsed file, and what of it is valid. */
export interface Validation {
  /** The whole config, when the schema accepted it (references may still be wrong). */
  config: Config | undefined;
  problems: string[];
  view: ConfigView;
}

/**
 * Validates a parsed document, collecting every problem: the schema's, and the cross-references
 * of whatever parts are valid on their own, in one pass.
 */
export function collectConfig(raw: unknown, overrides: PathOverrides = {}): Validation {
  applyOverrides(raw, overrides);
  const parsed = configSchema.safeParse(raw);
  const view = parsed.success ? viewOfConfig(parsed.data) : viewOfRaw(raw);
  const problems = parsed.success ? [] : parsed.error.issues.map(formatIssue);
  problems.push(...referenceProblems(raw, view));
  return { config: parsed.success ? parsed.data : undefined, problems: problems.map(oneLine), view };
}

/**
 * Validates a parsed document. Every problem is collected and reported at once, each prefixed
 * with its path, because a technician fixing a config on a ladder should not iterate error by error.
 */
export function validateConfig(raw: unknown, source: string, overrides: PathOverrides = {}): Config {
  const { config, problems } = collectConfig(raw, overrides);
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems, source);
  return config;
}

export function parseConfigText(text: string, source: string, overrides: PathOverrides = {}): Config {
  return validateConfig(parseBoundedYaml(text, source), source, overrides);
}

/** The file read and parsed within the bounds of bounded-yaml.ts, not yet validated. */
export function readConfigDocument(file: string): unknown {
  return parseBoundedYaml(readBoundedFile(file), file);
}

/**
 * Reads and validates the config file (schema and cross-references); relative paths in it are
 * resolved against its folder. The files it names are checked by preflight.ts, which the daemon
 * and `--check-config` run as well.
 */
export function loadConfigFile(file: string, overrides: PathOverrides = {}): Config {
  return resolveConfigPaths(validateConfig(readConfigDocument(file), file, overrides), file);
}

/** A path of the config, absolute: relative ones are relative to the config file's folder. */
export function configPath(base: string, p: string): string {
  return path.resolve(base, p);
}

export { isInlinePem } from './config-paths.js';

/**
 * Relative paths in a config are relative to the file's folder, wherever the daemon was started
 * from. Which fields are paths is said once, in the schema (config-paths.ts marks them).
 */
export function resolveConfigPaths(cfg: Config, file: string): Config {
  return absolutePaths(configSchema, cfg, path.dirname(path.resolve(file)));
}
