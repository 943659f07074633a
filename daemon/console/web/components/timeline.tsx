import type { StoredEvent } from '../types.js';

const W = 1000;
const H = 44;
const SEVERITY_Y: Record<string, number> = { info: 36, warning: 27, alert: 18, critical: 9 };

/**
 * The events shown, on one time axis: a tick per event, higher and redder with severity; a click
 * opens it. SVG scaled to the page's width, so it reads on a laptop and a tablet alike.
 */
export function Timeline({ events, selected, onSelect }: { events: StoredEvent[]; selected: string | null; onSelect: (id: string) => void }): preact.JSX.Element | null {
  if (events.length === 0) return null;
  let min = Infinity;
  let max = -Infinity;
  for (const e of events) {
    min = Math.min(min, e.ts);
    max = Math.max(max, e.ts);
  }
  const span = Math.max(60_000, max - min);
  const x = (ts: number): number => 10 + ((ts - min) / span) * (W - 20);
  const label = (ts: number): string => new Date(ts).toLocaleString(undefined, { hour12: false, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  return (
    <svg class="timeline" viewBox={`0 0 ${W} ${H + 14}`} preserveAspectRatio="none" role="img" aria-label={`${events.length} events on a time axis`}>
      <line x1="0" y1={H} x2={W} y2={H} class="axis" />
      {events.map((e) => (
        <line key={e.id} x1={x(e.ts)} x2={x(e.ts)} y1={H} y2={SEVERITY_Y[e.severity] ?? 36} class={`tick tick-${e.severity}${e.id === selected ? ' selected' : ''}`}
          onClick={() => onSelect(e.id)}><title>{`${new Date(e.ts).toLocaleString()} ${e.stream}/${e.rule} ${e.kind}`}</title></line>
      ))}
      <text x="2" y={H + 12} class="axis-label">{label(min)}</text>
      <text x={W - 2} y={H + 12} class="axis-label" text-anchor="end">{label(min + span)}</text>
    </svg>
  );
}
