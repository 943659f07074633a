import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, type Config } from './schema.js';

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

/** Cross-field checks that a schema of independent fields cannot express. */
function referenceProblems(cfg: Config): string[] {
  const problems: string[] = [];
  const dup = (kind: string, ids: string[]): void => {
    const seen = new Set<string>();
    ids.forEach((v, i) => {
      if (seen.has(v)) problems.push(`${kind}[${i}].id: duplicate id "${v}"`);
      seen.add(v);
    });
  };
  dup('streams', cfg.streams.map((s) => s.id));
  dup('rules', cfg.rules.map((r) => r.id));
  const models = new Set<string>();
  cfg.models.forEach((m, i) => {
    if (models.has(m.name)) problems.push(`models[${i}].name: duplicate model "${m.name}"`);
    models.add(m.name);
  });
  const streams = new Set(cfg.streams.map((s) => s.id));
  cfg.streams.forEach((s, i) => {
    if (s.model !== undefined && !models.has(s.model)) {
      problems.push(`streams[${i}].model: unknown model "${s.model}" (configured: ${[...models].join(', ') || 'none'})`);
    }
    if (s.restart_max_ms < s.restart_min_ms) problems.push(`streams[${i}].restart_max_ms: must be >= restart_min_ms`);
  });
  cfg.rules.forEach((r, i) => {
    if (!streams.has(r.stream)) problems.push(`rules[${i}].stream: unknown stream "${r.stream}"`);
  });
  const rules = new Set(cfg.rules.map((r) => r.id));
  cfg.actions.on.forEach((a, i) => a.rules?.forEach((id, j) => {
    if (!rules.has(id)) problems.push(`actions.on[${i}].rules[${j}]: unknown rule "${id}"`);
  }));
  return problems;
}

/**
 * Validates a parsed document. Every problem is collected and reported at once, each prefixed
 * with its path, because a technician fixing a config on a ladder should not iterate error by error.
 */
export function validateConfig(raw: unknown, source: string, overrides: PathOverrides = {}): Config {
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    const obj = raw as Record<string, unknown>;
    if (overrides.mqttUrl !== undefined) obj['mqtt'] = { ...(obj['mqtt'] as object | undefined), url: overrides.mqttUrl };
    if (overrides.storageDir !== undefined) obj['storage'] = { ...(obj['storage'] as object | undefined), dir: overrides.storageDir };
    if (overrides.modelsDir !== undefined) obj['models_dir'] = overrides.modelsDir;
    if (overrides.socket !== undefined) obj['control'] = { ...(obj['control'] as object | undefined), socket: overrides.socket };
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map(formatIssue), source);
  const problems = referenceProblems(parsed.data);
  if (problems.length > 0) throw new ConfigError(problems, source);
  return parsed.data;
}

export function parseConfigText(text: string, source: string, overrides: PathOverrides = {}): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      return `${pos ? `line ${pos.line}, column ${pos.col}` : 'YAML'}: ${e.message.split('\n')[0] ?? e.code}`;
    }), source);
  }
  return validateConfig(doc.toJS(), source, overrides);
}

/** Reads and validates the config file; relative paths in it are resolved against its folder. */
export function loadConfigFile(file: string, overrides: PathOverrides = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`], file);
  }
  return resolveConfigPaths(parseConfigText(text, file, overrides), file);
}

/** Relative paths in a config are relative to the file's folder, wherever the daemon was started from. */
export function resolveConfigPaths(cfg: Config, file: string): Config {
  const base = path.dirname(path.resolve(file));
  const abs = (p: string): string => path.resolve(base, p);
  return {
    ...cfg,
    storage: { ...cfg.storage, dir: abs(cfg.storage.dir) },
    control: { ...cfg.control, socket: abs(cfg.control.socket) },
    ...(cfg.models_dir !== undefined ? { models_dir: abs(cfg.models_dir) } : {}),
    models: cfg.models.map((m) => ({ ...m, manifest: abs(m.manifest) })),
  };
}
