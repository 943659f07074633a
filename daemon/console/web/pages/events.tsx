import { useEffect, useMemo, useState } from 'preact/hooks';
import { rpc } from '../api.js';
import { EventDetailView } from '../components/event-detail.js';
import { Timeline } from '../components/timeline.js';
import { Badge, ErrorBox, fmtTime, usePoll } from '../components/ui.js';
import { href, navigate, useRoute } from '../router.js';
import type { Me, StoredEvent } from '../types.js';

const SEVERITIES = ['info', 'warning', 'alert', 'critical'] as const;
/** How many events the page holds; events.list filters by stream on the device, the rest here. */
const LIMIT = 1000;

interface Filters {
  stream: string;
  rule: string;
  kind: string;
  severity: string;
  from: string;
  to: string;
}

const parseLocal = (v: string): number | null => (v === '' ? null : new Date(v).getTime());

/**
 * Events as a timeline and a list, filtered by stream (on the device), rule, kind, severity and
 * time (here); new ones arrive through events.tail every 3 s. One event opens beside the list with
 * its snapshot, clip, facts and timings, and the true / false alarm buttons.
 */
export function EventsPage({ me, selected }: { me: Me; selected: string | null }): preact.JSX.Element {
  const route = useRoute();
  const [filters, setFilters] = useState<Filters>(() => ({
    stream: route.query.get('stream') ?? '', rule: route.query.get('rule') ?? '', kind: '', severity: '', from: '', to: '',
  }));
  const [events, setEvents] = useState<StoredEvent[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const streams = usePoll(() => rpc('streams.list'), 30_000);

  useEffect(() => {
    let stopped = false;
    let timer = 0;
    let after = '';
    setEvents(null);
    const params = filters.stream === '' ? { limit: LIMIT } : { stream: filters.stream, limit: LIMIT };
    const follow = async (): Promise<void> => {
      if (stopped) return;
      try {
        if (document.visibilityState === 'visible') {
          const t = await rpc('events.tail', { after, limit: 200 });
          after = t.next;
          const fresh = t.events.filter((e) => filters.stream === '' || e.stream === filters.stream);
          if (!stopped && fresh.length > 0) setEvents((old) => mergeNewest(old ?? [], fresh));
        }
      } catch (err) {
        if (!stopped) setError(err);
      }
      if (!stopped) timer = window.setTimeout(() => void follow(), 3000);
    };
    rpc('events.list', params).then((list) => {
      if (stopped) return;
      setEvents(mergeNewest([], list));
      setError(null);
      // The tail starts after the newest event listed (ids sort by creation).
      after = list.reduce((m, e) => (e.id > m ? e.id : m), '');
      timer = window.setTimeout(() => void follow(), 3000);
    }, (err: unknown) => { if (!stopped) setError(err); });
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [filters.stream]);

  const all = events ?? [];
  const shown = useMemo(() => {
    const from = parseLocal(filters.from);
    const to = parseLocal(filters.to);
    return all.filter((e) => (filters.rule === '' || e.rule === filters.rule) && (filters.kind === '' || e.kind === filters.kind)
      && (filters.severity === '' || e.severity === filters.severity) && (from === null || e.ts >= from) && (to === null || e.ts <= to));
  }, [all, filters]);
  const distinct = (f: (e: StoredEvent) => string): string[] => [...new Set(all.map(f))].sort();
  const set = (k: keyof Filters, v: string): void => setFilters((f) => ({ ...f, [k]: v }));
  const select = (name: keyof Filters, label: string, options: readonly string[]): preact.JSX.Element => (
    <label>{label} <select name={name} value={filters[name]} onChange={(e) => set(name, e.currentTarget.value)}>
      <option value="">all</option>
      {options.map((o) => <option value={o}>{o}</option>)}
    </select></label>
  );

  return (
    <section class="events">
      <div class="bar"><h1>Events</h1></div>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        {select('stream', 'Stream', (streams.data ?? []).map((s) => s.id))}
        {select('rule', 'Rule', distinct((e) => e.rule))}
        {select('kind', 'Kind', distinct((e) => e.kind))}
        {select('severity', 'Severity', SEVERITIES)}
        <label>From <input type="datetime-local" name="from" value={filters.from} onInput={(e) => set('from', e.currentTarget.value)} /></label>
        <label>To <input type="datetime-local" name="to" value={filters.to} onInput={(e) => set('to', e.currentTarget.value)} /></label>
      </form>
      <ErrorBox error={error} />
      <Timeline events={shown} selected={selected} onSelect={(id) => navigate('events', id)} />
      <div class={`events-body${selected === null ? ' single' : ''}`}>
        <div class="event-list">
          {events === null ? <p>Loading…</p> : shown.length === 0 ? <p>No events{all.length > 0 ? ' match the filters' : ' yet'}.</p> : (
            <table>
              <thead><tr><th>time</th><th>stream</th><th>rule</th><th>kind</th><th>severity</th></tr></thead>
              <tbody>
                {shown.map((e) => (
                  <tr key={e.id} class={e.id === selected ? 'selected' : ''} data-event={e.id} onClick={() => navigate('events', e.id)}>
                    <td><a href={href('events', e.id)}>{fmtTime(e.ts)}</a></td><td>{e.stream}</td><td>{e.rule}</td><td>{e.kind}</td>
                    <td><Badge tone={e.severity}>{e.severity}</Badge></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        {selected !== null && <EventDetailView key={selected} id={selected} me={me} />}
      </div>
    </section>
  );
}

/** Newest first, each id once. */
function mergeNewest(old: StoredEvent[], fresh: StoredEvent[]): StoredEvent[] {
  const seen = new Set(old.map((e) => e.id));
  return [...fresh.filter((e) => !seen.has(e.id)), ...old].sort((a, b) => b.ts - a.ts || (b.id > a.id ? 1 : -1)).slice(0, LIMIT);
}
