import { useEffect, useRef, useState } from 'preact/hooks';
import { get, rpc } from '../api.js';
import { LineChart } from '../components/line-chart.js';
import { Badge, ErrorBox, fmtNum, fmtTime, usePoll } from '../components/ui.js';
import type { DoctorReport, LogEntry, TelemetrySample } from '../types.js';
import { asText } from '../format.js';

const SERIES: { key: keyof TelemetrySample; title: string; unit: string; scale?: number; digits?: number }[] = [
  { key: 'fps', title: 'Analysis', unit: 'fps' },
  { key: 'inference_ms', title: 'Inference', unit: 'ms' },
  { key: 'e2e_ms', title: 'End to end', unit: 'ms' },
  { key: 'cpu', title: 'CPU', unit: '%' },
  { key: 'gpu', title: 'GPU', unit: '%' },
  { key: 'mem', title: 'Memory in use', unit: 'GiB', scale: 1 / 1024 ** 3, digits: 2 },
  { key: 'rss', title: 'vigild memory', unit: 'MiB', scale: 1 / 1024 ** 2, digits: 0 },
  { key: 'temp', title: 'Temperature', unit: '°C' },
  { key: 'power', title: 'Power', unit: 'W', scale: 1 / 1000 },
  { key: 'outbox', title: 'Outbox depth', unit: 'messages', digits: 0 },
  { key: 'disk_free', title: 'Disk free', unit: 'GiB', scale: 1 / 1024 ** 3, digits: 2 },
];

const CHECK_TONE: Record<string, string> = { OK: 'ok', WARN: 'warn', FAIL: 'bad' };
const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** The device's health: telemetry of the last 24 h, the doctor's checks, the models, the uplink and the log. */
export function HealthPage(): preact.JSX.Element {
  const telemetry = usePoll(() => get<{ samples: TelemetrySample[] }>('/api/telemetry?hours=24'), 60_000);
  const doctor = usePoll(() => get<DoctorReport>('/api/doctor'), 0);
  const models = usePoll(() => rpc('models.list'), 30_000);
  const status = usePoll(() => rpc('status'), 5000);
  const samples = telemetry.data?.samples ?? [];
  const checks = doctor.data?.checks ?? null;
  const uplink = status.data?.uplink;

  return (
    <section class="health">
      <h1>Health</h1>
      <h2>Last 24 hours</h2>
      <ErrorBox error={telemetry.error} />
      <div class="charts">
        {SERIES.map((s) => <LineChart key={s.key} title={s.title} unit={s.unit} digits={s.digits ?? 1}
          points={samples.map((p) => { const v = p[s.key]; return { ts: p.ts, v: typeof v === 'number' ? v * (s.scale ?? 1) : null }; })} />)}
      </div>

      <div class="columns">
        <div class="card">
          <h2>Uplink</h2>
          <ErrorBox error={status.error} />
          {uplink === null ? <p>No uplink configured.</p> : uplink === undefined ? <p>…</p> : (
            <dl class="facts" data-uplink={uplink.connected ? 'connected' : 'disconnected'}>
              <dt>broker</dt><dd>{uplink.url} <Badge tone={uplink.connected ? 'ok' : 'bad'}>{uplink.connected ? 'connected' : 'disconnected'}</Badge></dd>
              <dt>published / acked</dt><dd>{uplink.published} / {uplink.acked}</dd>
              <dt>outbox</dt><dd>{uplink.outboxDepth} waiting{uplink.oldestAgeMs !== null ? `, oldest ${fmtNum(uplink.oldestAgeMs / 1000, 0)} s` : ''}</dd>
              <dt>disconnects</dt><dd>{uplink.disconnects}</dd>
              {uplink.lastError !== null && <><dt>last error</dt><dd class="bad">{uplink.lastError}</dd></>}
            </dl>
          )}
        </div>
        <div class="card">
          <h2>Models</h2>
          <ErrorBox error={models.error} />
          {models.data && (
            <table>
              <thead><tr><th>model</th><th>active</th><th>state</th><th>provider</th><th>versions</th></tr></thead>
              <tbody>{models.data.models.map((m) => (
                <tr>
                  <td>{m.name}</td><td>{m.active}{m.previous !== null ? <span class="hint"> (was {m.previous})</span> : null}</td>
                  <td>{m.state === 'probation' && m.probation !== null
                    ? <Badge tone="warn">probation {fmtNum(m.probation.elapsed_s, 0)} s, {m.probation.inferences} runs, {m.probation.failed} failed</Badge>
                    : <Badge tone="ok">{m.state}</Badge>}</td>
                  <td>{m.provider ?? '–'}</td>
                  <td>{m.versions.map((v) => v.version).join(', ')}</td>
                </tr>
              ))}</tbody>
            </table>
          )}
          {models.data?.models.length === 0 && <p>No models installed.</p>}
        </div>
      </div>

      <div class="card">
        <h2>Doctor {doctor.data && <Badge tone={doctor.data.healthy ? 'ok' : 'bad'}>{doctor.data.healthy ? 'healthy' : 'needs attention'}</Badge>}</h2>
        {doctor.data && <p class="hint">Checked {fmtTime(Date.parse(doctor.data.ran_at))}.</p>}
        <ErrorBox error={doctor.error} />
        {checks === null ? (doctor.error === null ? <p>Running the checks…</p> : null) : (
          <table class="doctor">
            <thead><tr><th>check</th><th>status</th><th>detail</th><th>fix</th></tr></thead>
            <tbody>{checks.map((c) => (
              <tr><td>{c.name}</td><td><Badge tone={CHECK_TONE[c.status] ?? 'muted'}>{c.status}</Badge></td><td>{c.detail ?? ''}</td><td>{c.fix ?? ''}</td></tr>
            ))}</tbody>
          </table>
        )}
      </div>

      <LogTail />
    </section>
  );
}

/** The daemon's recent log lines (logs.tail), followed every 3 s with its cursor. */
function LogTail(): preact.JSX.Element {
  const [entries, setEntries] = useState<LogEntry[]>([]);
  const [error, setError] = useState<unknown>(null);
  const next = useRef<number | undefined>(undefined);
  useEffect(() => {
    let stopped = false;
    let timer = 0;
    const poll = async (): Promise<void> => {
      try {
        if (document.visibilityState === 'visible') {
          const r = await rpc('logs.tail', next.current === undefined ? { limit: 200 } : { after: next.current, limit: 200 });
          next.current = r.next;
          if (!stopped && r.entries.length > 0) setEntries((old) => [...old, ...r.entries].slice(-300));
          setError(null);
        }
      } catch (err) {
        if (!stopped) setError(err);
      }
      if (!stopped) timer = window.setTimeout(() => void poll(), 3000);
    };
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, []);
  return (
    <div class="card">
      <h2>Log</h2>
      <ErrorBox error={error} />
      <div class="log">
        {entries.slice().reverse().map((e) => {
          const { time, level, msg, ...rest } = e.line;
          const lvl = typeof level === 'number' ? LEVEL_NAMES[level] ?? String(level) : asText(level);
          delete rest['pid'];
          delete rest['hostname'];
          return (
            <div class={`log-line level-${lvl}`} key={e.seq}>
              <span class="log-time">{typeof time === 'number' ? fmtTime(time) : asText(time)}</span>
              <span class="log-level">{lvl}</span> <span class="log-msg">{asText(msg)}</span>
              {Object.keys(rest).length > 0 && <span class="log-fields"> {JSON.stringify(rest)}</span>}
            </div>
          );
        })}
      </div>
    </div>
  );
}
