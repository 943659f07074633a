import { useEffect, useState } from 'preact/hooks';
import { rpc } from '../api.js';
import { canChange, type EventDetail, type Me } from '../types.js';
import { Badge, ErrorBox, fmtNum, fmtTime, Notice } from './ui.js';
import { asText } from '../format.js';

/**
 * One event in full (events.show): its snapshot, its clip when the evidence work recorded one, the
 * facts the rule gave, the timings of each stage, and the review: true / false alarm buttons that
 * store the same review as `vigilctl events ack` (source `console:<user>`).
 */
export function EventDetailView({ id, me }: { id: string; me: Me }): preact.JSX.Element {
  const [detail, setDetail] = useState<EventDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [reviewError, setReviewError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const enc = encodeURIComponent(id);

  useEffect(() => {
    let stopped = false;
    let timer = 0;
    // A clip is written when the activity ends (and its post-roll is recorded): ask again until it is there.
    const load = (): void => {
      rpc('events.show', { id }).then((d) => {
        if (stopped) return;
        setDetail(d);
        if (d.clip === null && document.visibilityState === 'visible') timer = window.setTimeout(load, 5000);
      }, (err: unknown) => { if (!stopped) setError(err); });
    };
    load();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [id]);

  const review = (verdict: 'true_alarm' | 'false_alarm'): void => {
    setBusy(true);
    setReviewError(null);
    rpc('events.ack', { id, verdict }).then((r) => {
      setBusy(false);
      setDetail((d) => (d === null ? d : { ...d, review: r }));
    }, (err: unknown) => {
      setBusy(false);
      setReviewError(err);
    });
  };

  if (detail === null) return <aside class="card event-detail"><ErrorBox error={error} />{error === null && <p>Loading…</p>}</aside>;
  const e = detail.event;
  const { objects, ...facts } = e.payload;
  return (
    <aside class="card event-detail" data-event={e.id}>
      <h2>{e.stream} · {e.rule} <Badge tone={e.severity}>{e.severity}</Badge></h2>
      <p class="hint">{fmtTime(e.ts)} · {e.kind} · <code>{e.id}</code></p>
      {detail.snapshot !== null && <img class="evidence" src={`/api/events/${enc}/snapshot.jpg`} alt={`snapshot of event ${e.id}`}
        width={detail.snapshot.width} height={detail.snapshot.height} />}
      {detail.clip
        ? <>
          <video class="evidence" src={`/api/events/${enc}/clip.mp4`} controls preload="metadata" width={detail.clip.width} height={detail.clip.height} />
          <p class="hint">Clip {fmtNum(detail.clip.duration_s)} s, {fmtNum(detail.clip.bytes / 1024 / 1024, 2)} MiB{detail.clip.truncated !== null ? `, cut short: ${detail.clip.truncated}` : ''}</p>
        </>
        : detail.clip === null && <p class="hint">No clip: one is written when the activity ends, where clips are on.</p>}
      <div class="review">
        {detail.review === null
          ? <span>Not reviewed.</span>
          : <Notice>Reviewed: <strong data-verdict={detail.review.verdict}>{detail.review.verdict === 'true_alarm' ? 'true alarm' : 'false alarm'}</strong> by {detail.review.source}, {fmtTime(detail.review.ts)}</Notice>}
        <div class="actions">
          <button type="button" disabled={busy} onClick={() => review('true_alarm')}>True alarm</button>
          <button type="button" class="secondary" disabled={busy} onClick={() => review('false_alarm')}>False alarm</button>
        </div>
        {!canChange(me.role, 'review') && <p class="hint">Your role ({me.role}) may not review; the device refuses.</p>}
        <ErrorBox error={reviewError} />
      </div>
      <h3>Facts</h3>
      <dl class="facts">
        {flatten(facts).map(([k, v]) => <><dt>{k}</dt><dd>{v}</dd></>)}
        {detail.inferred_at !== null && <><dt>inferred at</dt><dd>{detail.inferred_at}</dd></>}
        <dt>uplinked</dt><dd>{e.uplinkedAt === null ? 'pending' : fmtTime(e.uplinkedAt)}</dd>
      </dl>
      {objects.length > 0 && (
        <table class="objects">
          <thead><tr><th>label</th><th>score</th><th>box</th></tr></thead>
          <tbody>{objects.map((o) => <tr><td>{o.label}</td><td>{o.score.toFixed(2)}</td><td>{o.box.map((v) => Math.round(v)).join(', ')}</td></tr>)}</tbody>
        </table>
      )}
      {detail.timings !== null && (
        <>
          <h3>Timings</h3>
          <dl class="facts">
            <dt>commit</dt><dd>{fmtNum(detail.timings.commit_ms)} ms</dd>
            <dt>local action</dt><dd>{fmtNum(detail.timings.action_ms)} ms</dd>
            <dt>broker ack</dt><dd>{fmtNum(detail.timings.puback_ms)} ms</dd>
            <dt>evidence</dt><dd>{fmtNum(detail.timings.evidence_ms)} ms</dd>
          </dl>
        </>
      )}
    </aside>
  );
}

/** The payload's facts one level deep (`facts.trigger`, `snapshot.width`), so that each reads as a line of its own. */
function flatten(facts: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(facts)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [sub, w] of Object.entries(v)) out.push([`${k}.${sub}`, asText(w)]);
    else out.push([k, asText(v)]);
  }
  return out;
}
