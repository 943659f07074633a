import path from 'node:path';
import { z } from 'zod';

/**
 * Path fields of vigil.yaml, marked where the schema declares them: relative values are relative
 * to the config file's folder, wherever the daemon was started from. `pem-or-path` fields take PEM
 * text as well, which is left as it is.
 */
export const pathFields = z.registry<{ kind: 'path' | 'pem-or-path' }>();

/** A file or folder of the device, resolved against the config file's folder. */
export const configPathSchema = (): z.ZodString => z.string().min(1).register(pathFields, { kind: 'path' });
/** A key given as PEM text or as the path of a PEM file. */
export const pemOrPathSchema = (): z.ZodString => z.string().min(1).register(pathFields, { kind: 'pem-or-path' });

/** Trusted keys are PEM text or a file's path; only a path is resolved. */
export const isInlinePem = (ref: string): boolean => ref.includes('-----BEGIN');

type Resolve = (value: string, kind: 'path' | 'pem-or-path') => string;

type Def = { type: string; innerType?: z.ZodType; in?: z.ZodType; element?: z.ZodType };
const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'nonoptional']);

/** What a schema holds, as far as paths go: a wrapped schema, array items, object fields, or nothing. */
function structure(schema: z.ZodType): { wrapped: z.ZodType } | { items: z.ZodType } | { fields: Record<string, z.ZodType> } | null {
  const def = (schema as z.ZodType & { _zod: { def: Def } })._zod.def;
  if (WRAPPERS.has(def.type) && def.innerType) return { wrapped: def.innerType };
  if (def.type === 'pipe' && def.in) return { wrapped: def.in };
  if (def.type === 'array' && def.element) return { items: def.element };
  if (def.type === 'object') return { fields: (schema as z.ZodObject).shape };
  // Unions carry no paths in this config; scalars none at all.
  return null;
}

/** Walks a parsed value beside its schema and rewrites every marked path field. */
function mapPathFields<T>(schema: z.ZodType, value: T, resolve: Resolve): T {
  return walk(schema, value, resolve) as T;
}

function walk(schema: z.ZodType, value: unknown, resolve: Resolve): unknown {
  const mark = pathFields.get(schema);
  if (mark) return typeof value === 'string' ? resolve(value, mark.kind) : value;
  const s = structure(schema);
  if (s === null) return value;
  if ('wrapped' in s) return walk(s.wrapped, value, resolve);
  if ('items' in s) return Array.isArray(value) ? value.map((v) => walk(s.items, v, resolve)) : value;
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [key, field] of Object.entries(s.fields)) if (key in out) out[key] = walk(field, out[key], resolve);
  return out;
}

/** The dotted names of every marked field under `schema` (`[]` for array items), for docs and tests. */
export function pathFieldNames(schema: z.ZodType, prefix = ''): string[] {
  if (pathFields.get(schema)) return [prefix];
  const s = structure(schema);
  if (s === null) return [];
  if ('wrapped' in s) return pathFieldNames(s.wrapped, prefix);
  if ('items' in s) return pathFieldNames(s.items, `${prefix}[]`);
  return Object.entries(s.fields).flatMap(([key, field]) => pathFieldNames(field, prefix === '' ? key : `${prefix}.${key}`));
}

/** Every marked path of a config made absolute against `base` (PEM text left as it is). */
export function absolutePaths<T>(schema: z.ZodType, value: T, base: string): T {
  return mapPathFields(schema, value, (v, kind) => (kind === 'pem-or-path' && isInlinePem(v) ? v : path.resolve(base, v)));
}
