import { useEffect, useState } from 'preact/hooks';
import { rpc } from '../api.js';
import { ErrorBox } from './ui.js';
import { asText } from '../format.js';

interface Fields {
  id: string;
  uri: string;
  model: string;
  fps: string;
  loop: boolean;
  realtime: boolean;
}

const BLANK: Fields = { id: '', uri: '', model: '', fps: '5', loop: false, realtime: true };

/**
 * Adds a stream (streams.add) or changes one (streams.set, only the fields that were changed: the
 * URI comes back with its password redacted and must not be written back as such). The daemon
 * validates with the config file's schema; its message is shown under the form.
 */
export function StreamForm({ existing, models, onDone, onCancel }: {
  existing?: string; models: string[]; onDone: (what: string) => void; onCancel: () => void;
}): preact.JSX.Element {
  const [fields, setFields] = useState<Fields>(BLANK);
  const [loaded, setLoaded] = useState<Fields>(BLANK);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (existing === undefined) return;
    rpc('config.get', { path: `streams.${existing}` }).then(({ value }) => {
      const v = (value ?? {}) as Record<string, unknown>;
      const f: Fields = {
        id: existing, uri: asText(v['uri']), model: typeof v['model'] === 'string' ? v['model'] : '',
        fps: asText(v['fps']), loop: v['loop'] === true, realtime: v['realtime'] !== false,
      };
      setFields(f);
      setLoaded(f);
    }, setError);
  }, [existing]);

  const set = <K extends keyof Fields>(k: K, v: Fields[K]): void => setFields((f) => ({ ...f, [k]: v }));
  const spec = (): Record<string, unknown> => {
    const all: Record<string, unknown> = {
      uri: fields.uri.trim(), model: fields.model === '' ? null : fields.model, fps: fields.fps === '' ? null : Number(fields.fps),
      loop: fields.loop, realtime: fields.realtime,
    };
    if (existing === undefined) {
      const add: Record<string, unknown> = { id: fields.id.trim() };
      for (const [k, v] of Object.entries(all)) if (v !== null) add[k] = v;
      return add;
    }
    const changes: Record<string, unknown> = {};
    for (const k of Object.keys(all) as (keyof Fields)[]) if (fields[k] !== loaded[k]) changes[k] = all[k];
    return changes;
  };

  const submit = (e: Event): void => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const call = existing === undefined
      ? rpc('streams.add', { stream: spec() }).then((r) => `stream ${fields.id} added: ${r.applied.join('; ') || r.changed.join(', ')}`)
      : rpc('streams.set', { id: existing, changes: spec() }).then((r) => `stream ${existing} changed: ${[...r.applied, ...r.restart_required.map((x) => `${x} (at restart)`)].join('; ') || 'nothing to change'}`);
    call.then(onDone, (err: unknown) => {
      setBusy(false);
      setError(err);
    });
  };

  return (
    <form class="card form stream-form" onSubmit={submit}>
      <h2>{existing === undefined ? 'Add a stream' : `Change ${existing}`}</h2>
      {existing === undefined && <label>Id <input name="id" required value={fields.id} onInput={(e) => set('id', e.currentTarget.value)} /></label>}
      <label>URI <input name="uri" required placeholder="rtsp://camera/stream or file:///path.mp4" value={fields.uri}
        onInput={(e) => set('uri', e.currentTarget.value)} /></label>
      <label>Model <select name="model" value={fields.model} onChange={(e) => set('model', e.currentTarget.value)}>
        <option value="">none (motion only)</option>
        {models.map((m) => <option value={m}>{m}</option>)}
      </select></label>
      <label>Analysis fps <input name="fps" type="number" min="0.1" max="120" step="any" value={fields.fps} onInput={(e) => set('fps', e.currentTarget.value)} /></label>
      <label class="check"><input name="loop" type="checkbox" checked={fields.loop} onChange={(e) => set('loop', e.currentTarget.checked)} /> loop (file:// sources)</label>
      <label class="check"><input name="realtime" type="checkbox" checked={fields.realtime} onChange={(e) => set('realtime', e.currentTarget.checked)} /> at the clip's own pace (file:// sources)</label>
      <div class="actions">
        <button type="submit" disabled={busy}>{existing === undefined ? 'Add' : 'Save'}</button>
        <button type="button" class="secondary" onClick={onCancel}>Cancel</button>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}
