import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import type { Result } from '../daemon/control/results.js';
import { CliError, EXIT } from './errors.js';

/** Commander's options checked by a schema whose type the action then uses; a mismatch is a usage error (exit 2). */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new CliError(parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; '), EXIT.usage);
  }
  return parsed.data;
}

/** A value as an operator types it: YAML, so `10` is a number, `false` a boolean, `[[0,0],[1,1]]` a list, `null` a removal. */
export function parseValue(text: string, what: string): unknown {
  try {
    return parseYaml(text) as unknown;
  } catch (err) {
    throw new CliError(`${what}: not a valid value: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, EXIT.usage);
  }
}

/** `key=value` pairs into one object of changes. */
export function parseAssignments(pairs: readonly string[]): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`expected key=value, got "${pair}"`, EXIT.usage);
    if (pair.slice(eq + 1).trim() === '') throw new CliError(`${pair.slice(0, eq)}: give a value (null restores the default)`, EXIT.usage);
    changes[pair.slice(0, eq)] = parseValue(pair.slice(eq + 1), pair.slice(0, eq));
  }
  return changes;
}

/** An object given inline (YAML or JSON), e.g. a rule spec. */
export function parseSpec(text: string, what: string): Record<string, unknown> {
  const v = parseValue(text, what);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new CliError(`${what}: expected a mapping (YAML or JSON object)`, EXIT.usage);
  return v as Record<string, unknown>;
}

export function describeChange(r: Result<'config.set'>): string {
  const lines = [
    r.changed.length > 0 ? `changed: ${r.changed.join(', ')}` : 'nothing changed',
    ...(r.applied.length > 0 ? [`applied: ${r.applied.join('; ')}`] : []),
    r.persisted ? `saved to ${r.file ?? '?'}` : `not saved${r.note !== undefined ? ` (${r.note})` : ''}`,
    ...(r.restart_required.length > 0 ? [`takes effect after a restart (vigilctl restart): ${r.restart_required.join(', ')}`] : []),
  ];
  return lines.join('\n');
}
