import { useState } from 'preact/hooks';
import { rpc } from '../api.js';
import { LiveView, type LivePreference } from '../components/live-view.js';
import { StreamForm } from '../components/stream-form.js';
import { Badge, ErrorBox, fmtNum, Notice, usePoll } from '../components/ui.js';
import { href, useRoute } from '../router.js';
import { canChange, type AppStatus, type Me, type StreamRow, type StreamStatus } from '../types.js';

const STATE_TONE: Record<string, string> = { playing: 'ok', starting: 'warn', backoff: 'bad', stopped: 'muted', ended: 'muted', disabled: 'muted' };

/**
 * The grid of live views: each stream's picture with its tracks, zones and lines, and what the
 * device says about it (fps, decoder, model provider, state) from `status`, refreshed every 2 s.
 * Admins add, change, disable and remove streams here (streams.* through /api/rpc).
 */
export function StreamsPage({ me }: { me: Me }): preact.JSX.Element {
  // `#/streams?live=jpeg` or `?live=video`: one way only, instead of video that gives way to snapshots when it cannot keep up.
  const live = useRoute().query.get('live');
  const prefer: LivePreference = live === 'jpeg' || live === 'video' ? live : 'auto';
  const status = usePoll(() => rpc('status'), 2000);
  const rows = usePoll(() => rpc('streams.list'), 5000);
  const [adding, setAdding] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const admin = canChange(me.role, 'streams');
  const changed = (what: string): void => {
    setDone(what);
    setAdding(false);
    status.reload();
    rows.reload();
  };

  const list = rows.data ?? [];
  return (
    <section>
      <div class="bar">
        <h1>Streams</h1>
        {admin && !adding && <button type="button" onClick={() => setAdding(true)}>Add stream</button>}
      </div>
      <ErrorBox error={status.error ?? rows.error} />
      {done !== null && <Notice>{done}</Notice>}
      {adding && <StreamForm models={(status.data?.models ?? []).map((m) => m.name)} onDone={changed} onCancel={() => setAdding(false)} />}
      {rows.data !== null && list.length === 0 && <p>No streams configured.</p>}
      <div class="grid">
        {list.map((row) => (
          <StreamCard key={row.id} row={row} status={status.data?.streams.find((s) => s.id === row.id) ?? null} app={status.data}
            admin={admin} prefer={prefer} onChanged={changed} />
        ))}
      </div>
    </section>
  );
}

function StreamCard({ row, status, app, admin, prefer, onChanged }: {
  row: StreamRow; status: StreamStatus | null; app: AppStatus | null; admin: boolean; prefer: LivePreference; onChanged: (what: string) => void;
}): preact.JSX.Element {
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const state = status?.state ?? row.state;
  const act = (what: string, call: () => Promise<unknown>): void => {
    setError(null);
    call().then(() => onChanged(what), setError);
  };
  const remove = (): void => {
    if (window.confirm(`Remove stream ${row.id}${row.rules.length > 0 ? ` and its rules (${row.rules.join(', ')})` : ''}?`)) {
      act(`stream ${row.id} removed`, () => rpc('streams.remove', { id: row.id, with_rules: true }));
    }
  };
  return (
    <article class="card stream" data-stream={row.id}>
      <header class="stream-head">
        <strong>{row.id}</strong>
        <Badge tone={STATE_TONE[state] ?? 'muted'}>{state}</Badge>
      </header>
      {row.enabled && state !== 'disabled' ? <LiveView stream={row.id} prefer={prefer} /> : <div class="live live-off">disabled</div>}
      <dl class="facts">
        <dt>fps</dt><dd>{fmtNum(status?.fps)} / {row.fps}</dd>
        <dt>decoder</dt><dd>{status?.decoder ?? '–'}</dd>
        <dt>model</dt><dd>{row.model ?? 'motion only'}</dd>
        <dt>provider</dt><dd>{status?.provider ?? '–'}</dd>
        {status?.sourceWidth !== undefined && <><dt>size</dt><dd>{status.sourceWidth}×{status.sourceHeight}</dd></>}
        {status?.lastError !== null && status?.lastError !== undefined && <><dt>error</dt><dd class="bad">{status.lastError}</dd></>}
      </dl>
      <div class="actions">
        <a class="button" href={href('editor', row.id)}>Zones &amp; lines</a>
        <a class="button secondary" href={`${href('events')}?stream=${encodeURIComponent(row.id)}`}>Events</a>
        {admin && <>
          <button type="button" class="secondary" onClick={() => setEditing(!editing)}>Change</button>
          {row.enabled
            ? <button type="button" class="secondary" onClick={() => act(`stream ${row.id} disabled`, () => rpc('streams.disable', { id: row.id }))}>Disable</button>
            : <button type="button" class="secondary" onClick={() => act(`stream ${row.id} enabled`, () => rpc('streams.enable', { id: row.id }))}>Enable</button>}
          <button type="button" class="danger" onClick={remove}>Remove</button>
        </>}
      </div>
      <ErrorBox error={error} />
      {editing && <StreamForm existing={row.id} models={(app?.models ?? []).map((m) => m.name)}
        onDone={(w) => { setEditing(false); onChanged(w); }} onCancel={() => setEditing(false)} />}
    </article>
  );
}
