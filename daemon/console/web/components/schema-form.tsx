import { fromField, widgetOf, type FieldValue, type JsonSchema } from '../schema-fields.js';
import { asText } from '../format.js';

/**
 * The fields of one object schema as form controls: a select for an enum, checkboxes for an array
 * of enums, number and text inputs, a comma-separated list for an array of strings, and JSON for
 * anything else. Empty fields are left to the schema's default, which the placeholder names.
 * `invalid` maps field names to the device's message about them, shown under the field.
 */
export function SchemaFields({ schema, values, skip, invalid, onChange }: {
  schema: JsonSchema; values: Record<string, FieldValue>; skip: ReadonlySet<string>;
  invalid: Record<string, string>; onChange: (name: string, value: FieldValue) => void;
}): preact.JSX.Element {
  const required = new Set(schema.required ?? []);
  const entries = Object.entries(schema.properties ?? {}).filter(([name]) => !skip.has(name));
  return (
    <div class="schema-fields">
      {entries.map(([name, prop]) => (
        <Field key={name} name={name} prop={prop} value={values[name]} required={required.has(name)} invalid={invalid[name]}
          onChange={(v) => onChange(name, v)} />
      ))}
    </div>
  );
}

function hint(prop: JsonSchema): string {
  const parts: string[] = [];
  if (prop.default !== undefined) parts.push(`default ${JSON.stringify(prop.default)}`);
  if (prop.minimum !== undefined) parts.push(`≥ ${prop.minimum}`);
  if (prop.exclusiveMinimum !== undefined) parts.push(`> ${prop.exclusiveMinimum}`);
  if (prop.maximum !== undefined && prop.maximum < Number.MAX_SAFE_INTEGER) parts.push(`≤ ${prop.maximum}`);
  return parts.join(', ');
}

function Field({ name, prop, value, required, invalid, onChange }: {
  name: string; prop: JsonSchema; value: FieldValue; required: boolean; invalid: string | undefined; onChange: (v: FieldValue) => void;
}): preact.JSX.Element {
  const widget = widgetOf(prop);
  const label = <span class="field-name">{name}{required ? ' *' : ''}</span>;
  const cls = `field${invalid === undefined ? '' : ' invalid'}`;
  const message = invalid === undefined ? null : <span class="field-error" role="alert">{invalid}</span>;
  const text = typeof value === 'string' ? value : '';
  switch (widget) {
    case 'enum': {
      const options = (prop.enum ?? []).map(String);
      return (
        <label class={cls}>{label}
          <select name={name} value={text} onChange={(e) => onChange(e.currentTarget.value === '' ? undefined : e.currentTarget.value)}>
            {!required && <option value="">{prop.default === undefined ? '(none)' : `(default: ${asText(prop.default)})`}</option>}
            {options.map((o) => <option value={o}>{o}</option>)}
          </select>{message}
        </label>
      );
    }
    case 'enum-array': {
      const items = prop.items !== false && prop.items !== undefined ? (prop.items.enum ?? []).map(String) : [];
      const checked = Array.isArray(value) ? value : Array.isArray(prop.default) ? prop.default.map(String) : [];
      return (
        <fieldset class={cls} data-field={name}><legend>{label}</legend>
          {items.map((o) => (
            <label class="check"><input type="checkbox" name={`${name}.${o}`} checked={checked.includes(o)}
              onChange={(e) => onChange(e.currentTarget.checked ? [...checked.filter((c) => c !== o), o] : checked.filter((c) => c !== o))} /> {o}</label>
          ))}{message}
        </fieldset>
      );
    }
    case 'boolean':
      return <label class={`${cls} check`}><input type="checkbox" name={name} checked={value === true || (value === undefined && prop.default === true)}
        onChange={(e) => onChange(e.currentTarget.checked)} /> {label}{message}</label>;
    case 'number':
    case 'integer':
      return <label class={cls}>{label}<input name={name} type="number" step={widget === 'integer' ? '1' : 'any'} placeholder={hint(prop)} value={text}
        onInput={(e) => onChange(e.currentTarget.value)} />{message}</label>;
    case 'string':
    case 'string-array':
      return <label class={cls}>{label}<input name={name} placeholder={widget === 'string-array' ? `comma-separated${prop.default === undefined ? '' : `; ${hint(prop)}`}` : hint(prop)}
        value={text} onInput={(e) => onChange(e.currentTarget.value)} />{message}</label>;
    case 'json':
      return <label class={cls}>{label}<textarea name={name} rows={3} placeholder={`JSON${prop.default === undefined ? '' : `; ${hint(prop)}`}`} value={text}
        onInput={(e) => onChange(e.currentTarget.value)} />{message}</label>;
  }
}

/** Reads every shown field back; throws the first field's error (a number that is not one, JSON that is not). */
export function readFields(schema: JsonSchema, values: Record<string, FieldValue>, skip: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    if (skip.has(name)) continue;
    const v = fromField(name, widgetOf(prop), values[name]);
    if (v !== undefined) out[name] = v;
  }
  return out;
}
