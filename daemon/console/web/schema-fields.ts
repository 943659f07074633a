import { asText } from './format.js';

/**
 * The part of JSON Schema that the rule form reads (what zod's toJSONSchema writes for the rule
 * schema), and how each property becomes a form field and back. Properties the form has no widget
 * for (the schedule's list of windows) are edited as JSON.
 */
export interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
  description?: string;
  items?: JsonSchema | false;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
}

export type Widget = 'enum' | 'number' | 'integer' | 'string' | 'boolean' | 'enum-array' | 'string-array' | 'json';
/** A field's value while it is being edited: text as typed, a checkbox, the checked options; undefined: not set. */
export type FieldValue = string | boolean | string[] | undefined;

const typeOf = (s: JsonSchema): string | undefined => (Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type);

export function widgetOf(s: JsonSchema): Widget {
  if (Array.isArray(s.enum) && s.enum.every((v) => typeof v === 'string')) return 'enum';
  const type = typeOf(s);
  if (type === 'number' || type === 'integer' || type === 'string' || type === 'boolean') return type;
  if (type === 'array' && s.items !== undefined && s.items !== false) {
    if (Array.isArray(s.items.enum)) return 'enum-array';
    if (typeOf(s.items) === 'string') return 'string-array';
  }
  return 'json';
}

/** The variants of a union schema (`oneOf` / `anyOf`), or the schema itself. */
export const variantsOf = (s: JsonSchema): JsonSchema[] => s.oneOf ?? s.anyOf ?? [s];

/** A variant's discriminator value (`kind: {const: "zone"}`). */
export function constOf(s: JsonSchema, key: string): string | undefined {
  const p = s.properties?.[key];
  if (typeof p?.const === 'string') return p.const;
  return p?.enum?.length === 1 && typeof p.enum[0] === 'string' ? p.enum[0] : undefined;
}

export function toField(widget: Widget, value: unknown): FieldValue {
  if (value === undefined || value === null) return undefined;
  switch (widget) {
    case 'boolean': return value === true;
    case 'enum-array': return Array.isArray(value) ? value.map(asText) : undefined;
    case 'string-array': return Array.isArray(value) ? value.map(asText).join(', ') : asText(value);
    case 'json': return JSON.stringify(value);
    case 'enum':
    case 'number':
    case 'integer':
    case 'string': return asText(value);
  }
}

/** The field back as config data; undefined when empty (left to the default). Throws, naming the field, on bad input. */
export function fromField(name: string, widget: Widget, value: FieldValue): unknown {
  if (value === undefined) return undefined;
  switch (widget) {
    case 'boolean': return value;
    case 'enum-array': return value;
    case 'string-array': {
      const items = String(value).split(',').map((s) => s.trim()).filter((s) => s !== '');
      return items.length === 0 ? undefined : items;
    }
    case 'number':
    case 'integer': {
      if (String(value).trim() === '') return undefined;
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`${name}: "${String(value)}" is not a number`);
      return n;
    }
    case 'json': {
      if (String(value).trim() === '') return undefined;
      try {
        return JSON.parse(String(value)) as unknown;
      } catch (err) {
        throw new Error(`${name}: not JSON (${err instanceof Error ? err.message : String(err)})`);
      }
    }
    case 'enum':
    case 'string': return String(value) === '' ? undefined : String(value);
  }
}

/** Two config values equal as data (arrays and objects by content). */
export const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
