import { fmtNum } from './ui.js';

const W = 320;
const H = 110;
const PAD = { left: 36, right: 6, top: 8, bottom: 18 };
const MIN_SPAN_MS = 10 * 60_000;

/**
 * A small SVG line chart of one series over time: the line, the range of values on the left, the
 * time span below and the latest value in the title. Gaps (null samples) break the line.
 */
export function LineChart({ title, unit, points, digits = 1 }: {
  title: string; unit: string; points: { ts: number; v: number | null | undefined }[]; digits?: number;
}): preact.JSX.Element {
  const valid = points.filter((p): p is { ts: number; v: number } => typeof p.v === 'number' && Number.isFinite(p.v));
  const last = valid.at(-1)?.v;
  if (valid.length === 0) {
    return <figure class="chart card"><figcaption>{title}</figcaption><p class="hint">no data</p></figure>;
  }
  // The axis ends now and spans at least ten minutes, so a device that just started shows a short line at the right, not a stretched one.
  const t1 = Math.max(Date.now(), points.at(-1)!.ts);
  const t0 = Math.min(points[0]!.ts, t1 - MIN_SPAN_MS);
  let lo = Math.min(...valid.map((p) => p.v));
  let hi = Math.max(...valid.map((p) => p.v));
  if (hi === lo) {
    hi += 1;
    lo = Math.max(0, lo - 1);
  }
  const x = (ts: number): number => PAD.left + ((ts - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number): number => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const segments: string[] = [];
  let current: string[] = [];
  for (const p of points) {
    if (typeof p.v === 'number' && Number.isFinite(p.v)) current.push(`${x(p.ts).toFixed(1)},${y(p.v).toFixed(1)}`);
    else if (current.length > 0) {
      segments.push(current.join(' '));
      current = [];
    }
  }
  if (current.length > 0) segments.push(current.join(' '));
  const hours = (t1 - t0) / 3_600_000;
  return (
    <figure class="chart card">
      <figcaption>{title} <strong>{fmtNum(last, digits)} {unit}</strong></figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title} over the last ${hours.toFixed(1)} h`}>
        <line x1={PAD.left} x2={W - PAD.right} y1={H - PAD.bottom} y2={H - PAD.bottom} class="axis" />
        <line x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={H - PAD.bottom} class="axis" />
        <text x={PAD.left - 3} y={PAD.top + 4} class="axis-label" text-anchor="end">{fmtNum(hi, digits)}</text>
        <text x={PAD.left - 3} y={H - PAD.bottom} class="axis-label" text-anchor="end">{fmtNum(lo, digits)}</text>
        <text x={PAD.left} y={H - 4} class="axis-label">{hours >= 1 ? `−${hours.toFixed(1)} h` : `−${Math.round(hours * 60)} min`}</text>
        <text x={W - PAD.right} y={H - 4} class="axis-label" text-anchor="end">now</text>
        {segments.map((s) => <polyline points={s} class="series" />)}
        {segments.length === 1 && valid.length === 1 && <circle cx={x(valid[0]!.ts)} cy={y(valid[0]!.v)} r="2.5" class="series-dot" />}
      </svg>
    </figure>
  );
}
