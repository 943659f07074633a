import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, errorText, get, rpc } from '../api.js';
import { GeometryEditor, type Shape } from '../components/geometry-editor.js';
import { LiveView } from '../components/live-view.js';
import { readFields, SchemaFields } from '../components/schema-form.js';
import { ErrorBox, Notice } from '../components/ui.js';
import { href, navigate } from '../router.js';
import { constOf, sameValue, toField, variantsOf, widgetOf, type FieldValue, type JsonSchema } from '../schema-fields.js';
import { canChange, type Me, type Point, type RuleConfig } from '../types.js';
import { asText } from '../format.js';

/** Fields the page sets itself: the stream from the route, the kind from its own select, the geometry from the drawing. */
const GEOMETRY = { line: 'line', zone: 'zone' } as const;
const FIXED = new Set(['stream', 'kind', 'zone', 'line']);

interface Picture {
  url: string;
  width: number;
  height: number;
}

/** The geometry field of a kind: a line rule draws `line`, every kind with a `zone` property draws that. */
function geometryOf(variant: JsonSchema | undefined): { field: 'line' | 'zone'; mode: 'polygon' | 'polyline'; required: boolean } | null {
  if (variant?.properties?.['line'] !== undefined) return { field: GEOMETRY.line, mode: 'polyline', required: true };
  if (variant?.properties?.['zone'] !== undefined) return { field: GEOMETRY.zone, mode: 'polygon', required: (variant.required ?? []).includes('zone') };
  return null;
}

/** Rules in `norm` units keep fractions of the frame; the drawing is in the snapshot's pixels. */
const toPixels = (pts: Point[], norm: boolean, pic: Picture): Point[] => (norm ? pts.map(([x, y]) => [x * pic.width, y * pic.height]) : pts);
const fromPixels = (pts: Point[], norm: boolean, pic: Picture): Point[] =>
  (norm ? pts.map(([x, y]) => [Number((x / pic.width).toFixed(4)), Number((y / pic.height).toFixed(4))]) : pts);

function shapeOf(rule: RuleConfig, pic: Picture): Shape | null {
  const norm = rule.units === 'norm';
  if (rule.kind === 'line') return { rule: rule.id, kind: 'polyline', points: toPixels(rule.line, norm, pic) };
  if (rule.zone !== undefined) return { rule: rule.id, kind: 'polygon', points: toPixels(rule.zone, norm, pic) };
  return null;
}

/**
 * The zone and line editor of one stream: a full-resolution snapshot to draw on, a form generated
 * from the rule's JSON Schema (GET /api/schema/rule) for the other fields, saved with rules.add or
 * rules.set, the same methods and validation as `vigilctl rules`. The live view under it shows the
 * saved rule as the device now runs it.
 */
export function EditorPage({ me, stream, rule }: { me: Me; stream: string; rule: string | null }): preact.JSX.Element {
  const [schema, setSchema] = useState<JsonSchema | null>(null);
  const [rules, setRules] = useState<RuleConfig[] | null>(null);
  const [picture, setPicture] = useState<Picture | null>(null);
  const [pictureTick, setPictureTick] = useState(0);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [kind, setKind] = useState('zone');
  const [values, setValues] = useState<Record<string, FieldValue>>({});
  const [points, setPoints] = useState<Point[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [savedCount, setSavedCount] = useState(0);

  useEffect(() => {
    get<JsonSchema>('/api/schema/rule').then(setSchema, setLoadError);
  }, []);
  const loadRules = (): Promise<void> => rpc('rules.list', { stream }).then(setRules, setLoadError);
  useEffect(() => {
    void loadRules();
  }, [stream]);
  useEffect(() => {
    let url: string | null = null;
    let cancelled = false;
    fetch(`/api/streams/${encodeURIComponent(stream)}/snapshot.jpg?overlay=0`, { cache: 'no-store', credentials: 'same-origin' })
      .then(async (res) => {
        if (!res.ok) throw new ApiError(res.status, 'snapshot', await res.json().then((b: { error?: { message?: string } }) => b.error?.message ?? res.statusText, () => res.statusText));
        const blob = await res.blob();
        const bitmap = await createImageBitmap(blob);
        const pic = { url: URL.createObjectURL(blob), width: bitmap.width, height: bitmap.height };
        bitmap.close();
        if (cancelled) URL.revokeObjectURL(pic.url);
        else {
          url = pic.url;
          setPicture(pic);
        }
      })
      .catch((err: unknown) => { if (!cancelled) setLoadError(`no picture of ${stream}: ${errorText(err)}`); });
    return () => {
      cancelled = true;
      if (url !== null) URL.revokeObjectURL(url);
    };
  }, [stream, pictureTick]);

  const variants = useMemo(() => (schema === null ? [] : variantsOf(schema)), [schema]);
  const variant = variants.find((v) => constOf(v, 'kind') === kind);
  const geometry = geometryOf(variant);
  const current = rule === null ? null : rules?.find((r) => r.id === rule) ?? null;

  // Load the chosen rule (or a blank one) into the form and the drawing, once per rule: a new
  // picture or a reloaded rule list must not undo what is being drawn.
  const loadedFor = useRef<string | null>(null);
  const [loaded, setLoaded] = useState('');
  useEffect(() => {
    const key = `${stream}/${rule ?? ''}`;
    if (loadedFor.current === key) return;
    if (rule !== null && (current === null || picture === null || variants.length === 0)) return;
    loadedFor.current = key;
    setLoaded(key);
    setError(null);
    if (current === null) {
      setValues({ classes: 'person' });
      setPoints([]);
      return;
    }
    setKind(current.kind);
    const v = variants.find((x) => constOf(x, 'kind') === current.kind);
    const next: Record<string, FieldValue> = {};
    for (const [name, prop] of Object.entries(v?.properties ?? {})) next[name] = toField(widgetOf(prop), (current as Record<string, unknown>)[name]);
    setValues(next);
    if (picture) setPoints(shapeOf(current, picture)?.points ?? []);
  }, [stream, rule, current, variants, picture]);

  const others: Shape[] = picture === null ? [] : (rules ?? []).filter((r) => r.id !== rule).map((r) => shapeOf(r, picture)).filter((s): s is Shape => s !== null);
  const invalid = fieldErrors(error, variant);

  const save = (e: Event): void => {
    e.preventDefault();
    if (!variant || !picture) return;
    setError(null);
    setSaved(null);
    let fields: Record<string, unknown>;
    try {
      fields = readFields(variant, values, FIXED);
    } catch (err) {
      setError(err);
      return;
    }
    const norm = fields['units'] === 'norm';
    if (geometry !== null && (points.length > 0 || geometry.required)) fields[geometry.field] = fromPixels(points, norm, picture);
    setBusy(true);
    const id = asText(fields['id']);
    const call = current === null
      ? rpc('rules.add', { rule: { ...fields, stream, kind } })
      : rpc('rules.set', { id: current.id, changes: changesOf(current, { ...fields, stream, kind }) });
    call.then((r) => {
      setBusy(false);
      setSaved(`rule ${id} saved: ${[...r.applied, ...r.restart_required.map((x) => `${x} (at restart)`)].join('; ') || r.changed.join(', ') || 'no change'}`);
      void loadRules();
      setSavedCount((n) => n + 1);
      if (rule !== id) navigate('editor', stream, id);
    }, (err: unknown) => {
      setBusy(false);
      setError(err);
    });
  };

  const mayChange = canChange(me.role, 'rules');
  const drawHint = geometry === null ? 'This kind has no geometry.'
    : geometry.mode === 'polygon' ? 'Click to add the zone\'s corners; drag a corner to move it, double-click to remove it.'
      : 'Click to add the line\'s points, first to last; side a is on the left of that walk, b on the right.';

  return (
    <section class="editor">
      <div class="bar">
        <h1>Zones &amp; lines · {stream}</h1>
        <nav class="rule-tabs">
          {(rules ?? []).map((r) => <a href={href('editor', stream, r.id)} class={r.id === rule ? 'active' : ''}>{r.id}</a>)}
          <a href={href('editor', stream)} class={rule === null ? 'active' : ''}>+ new rule</a>
        </nav>
      </div>
      <ErrorBox error={loadError} />
      {!mayChange && <Notice>Your role ({me.role}) may look at rules but not change them; the device refuses a save.</Notice>}
      <div class="editor-body">
        <div class="editor-picture">
          {picture
            ? <GeometryEditor image={picture.url} width={picture.width} height={picture.height} mode={geometry?.mode ?? 'polygon'} points={points}
              others={others} onChange={setPoints} />
            : <div class="live live-wait">loading the picture…</div>}
          <div class="actions">
            <span class="hint">{drawHint}</span>
            <button type="button" class="secondary" onClick={() => setPoints(points.slice(0, -1))} disabled={points.length === 0}>Undo point</button>
            <button type="button" class="secondary" onClick={() => setPoints([])} disabled={points.length === 0}>Clear</button>
            <button type="button" class="secondary" onClick={() => setPictureTick((n) => n + 1)}>New picture</button>
          </div>
          {picture && <p class="hint">Picture {picture.width}×{picture.height} px; {points.length} point{points.length === 1 ? '' : 's'}.</p>}
        </div>
        <form class="card form rule-form" onSubmit={save} data-loaded={loaded}>
          <label class="field">
            <span class="field-name">kind *</span>
            <select name="kind" value={kind} disabled={current !== null} onChange={(e) => setKind(e.currentTarget.value)}>
              {variants.map((v) => constOf(v, 'kind')).filter((k): k is string => k !== undefined).map((k) => <option value={k}>{k}</option>)}
            </select>
          </label>
          {variant && <SchemaFields schema={variant} values={values} skip={FIXED} invalid={invalid}
            onChange={(name, v) => setValues((old) => ({ ...old, [name]: v }))} />}
          {geometry && invalid[geometry.field] !== undefined && <span class="field-error" role="alert">{invalid[geometry.field]}</span>}
          <div class="actions">
            <button type="submit" disabled={busy || !picture || !variant}>{current === null ? 'Add rule' : 'Save rule'}</button>
            {current !== null && mayChange && <button type="button" class="danger" onClick={() => {
              if (!window.confirm(`Remove rule ${current.id}?`)) return;
              rpc('rules.remove', { id: current.id }).then(() => navigate('editor', stream), setError);
            }}>Remove</button>}
          </div>
          <ErrorBox error={error} />
          {saved !== null && <Notice>{saved}</Notice>}
        </form>
      </div>
      <h2>Live</h2>
      <div class="editor-live"><LiveView stream={stream} geometryVersion={savedCount} /></div>
    </section>
  );
}

/** rules.set takes what changed; a field cleared in the form goes as null (back to its default). */
function changesOf(current: RuleConfig, next: Record<string, unknown>): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  const old = current as Record<string, unknown>;
  for (const [k, v] of Object.entries(next)) if (!sameValue(old[k], v)) changes[k] = v;
  for (const k of Object.keys(old)) if (!(k in next) && !FIXED.has(k)) changes[k] = null;
  return changes;
}

/** The fields the device's message names (`rules[2].min_score: …`, `zone: …`), each with that message. */
function fieldErrors(error: unknown, variant: JsonSchema | undefined): Record<string, string> {
  if (error === null || variant === undefined) return {};
  const text = errorText(error);
  const out: Record<string, string> = {};
  for (const name of Object.keys(variant.properties ?? {})) {
    if (new RegExp(`(^|[.\\s\\[])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\b|\\])`).test(text)) out[name] = text;
  }
  return out;
}
