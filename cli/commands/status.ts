import { Command } from 'commander';
import type { Result } from '../../daemon/control/results.js';

type AppStatus = Result<'status'>;
import { call, DEFAULT_SOCKET } from '../control-client.js';
import type { Output } from '../output.js';

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

const mb = (b: number | null): string => (b === null ? '-' : `${Math.round(b / 2 ** 20)} MiB`);
const gb = (b: number | null): string => (b === null ? '-' : `${(b / 2 ** 30).toFixed(1)} GiB`);
const pct = (v: number | null): string => (v === null ? '-' : `${v.toFixed(0)}%`);
/** An isolated stream's decoder shows the process it runs in (docs/process-isolation.md). */
const decoderCell = (st: AppStatus['streams'][number]): string =>
  (st.process ? `${st.decoder ?? '-'} (pid ${st.process.pid ?? '-'}, ${st.process.crashed} crashed)` : st.decoder ?? '-');

/** EMC load and the power rails, only where the hardware has them (a Jetson). */
function jetson(sys: NonNullable<AppStatus['telemetry']>['system']): string {
  const emc = sys.emc_load_percent === null ? '' : `  emc ${pct(sys.emc_load_percent)}`;
  const rails = sys.power_rails.length === 0 ? ''
    : `  power ${sys.power_rails.map((r) => `${r.rail} ${(r.power_mw / 1000).toFixed(1)} W`).join(', ')}`;
  return emc + rails;
}

/** The newest health report, in one line; absent until the daemon has sent its first. */
function health(s: AppStatus): string[] {
  const t = s.telemetry;
  if (!t) return [];
  const sys = t.system;
  return [`health: cpu ${pct(sys.cpu_load_percent)} (vigild ${pct(sys.process_cpu_percent)})  rss ${mb(sys.memory.rss_bytes)}` +
    `  temp ${sys.temperature_celsius === null ? '-' : `${sys.temperature_celsius.toFixed(0)}°C`}  gpu ${pct(sys.gpu_load_percent)}` +
    `${jetson(sys)}  disk free ${gb(sys.disk.free_bytes)}  (report ${t.ts})`];
}

/** Response tiers in one line: p50/p99 ms after inference per stage, against the limits. */
function tiers(s: AppStatus): string[] {
  const t = s.tiers;
  if (!t) return [];
  const stage = (name: string, p: { p50: number; p99: number; limit_ms: number | null } | null | undefined): string =>
    `${name} ${p === null || p === undefined ? '-' : `${p.p50.toFixed(0)}/${p.p99.toFixed(0)}${p.limit_ms !== null ? ` (${p.limit_ms})` : ''}`}`;
  const l = t.latencyMs;
  return [`tiers ms p50/p99 (limit): ${stage('commit', l.commit)}  ${stage('action', l.action)}  ${stage('puback', l.puback)}  ${stage('evidence', l.evidence)}` +
    `  actions failed ${t.actions.failed}, snapshots ${t.evidence.written}`];
}

/** Degraded mode (docs/storage-faults.md) in one line; nothing while the store is ok and nothing was lost. */
function storageLine(s: AppStatus): string[] {
  const h = s.storage?.health;
  if (!h) return [];
  const lost = h.lost.info + h.lost.warning + h.lost.alert + h.lost.critical;
  const counts = `held ${h.held}, lost ${lost} (alert ${h.lost.alert + h.lost.critical}), delivered unstored ${h.unstored}, written late ${h.written}`;
  if (h.state === 'degraded') {
    return [`storage: DEGRADED since ${new Date(h.since ?? 0).toISOString()}: ${h.reason ?? ''}; ${counts}`];
  }
  return lost + h.unstored + h.faults > 0 ? [`storage: ok (${h.faults} degraded spell(s) since start; ${counts})`] : [];
}

/** The hot-standby pair (docs/fault-tolerance.md) in one line; nothing on a lone device. */
function pairLine(s: AppStatus): string[] {
  const p = s.pair;
  if (!p) return [];
  const ago = (v: number | null): string => (v === null ? 'never' : `${(v / 1000).toFixed(1)} s ago`);
  return [`pair: ${p.role.toUpperCase()} epoch ${p.epoch}${p.preferred ? ' (preferred)' : ''} since ${p.since}  peer ${p.peer}: ` +
    `${p.peerRole ?? 'unknown'} epoch ${p.peerEpoch ?? '-'}, LAN ${ago(p.peerHeardMsAgo)}, broker ${ago(p.peerBrokerHeardMsAgo)}, ` +
    `state ${p.peerState ?? 'unknown'}  takeovers ${p.takeovers}`, ...pairReplicaLine(p)];
}

/** The event database's stream to the peer and the peer's copy kept here (docs/data-replication.md). */
function pairReplicaLine(p: NonNullable<AppStatus['pair']>): string[] {
  const r = p.replica;
  if (!r) return [];
  const i = r.incoming;
  const lag = r.lag ? `lag p50 ${r.lag.p50.toFixed(0)} ms p99 ${r.lag.p99.toFixed(0)} ms` : 'lag -';
  return [`pair replica: ${r.state === 'ok' ? 'ok' : r.state.toUpperCase()} to ${p.peer}: behind ${r.behind} row(s)` +
    `${r.oldestMs > 0 ? ` (oldest ${r.oldestMs} ms)` : ''}, ${lag}, last ack ${r.lastAckMsAgo === null ? 'never' : `${(r.lastAckMsAgo / 1000).toFixed(1)} s ago`}  ` +
    `from ${p.peer}: ${i.connected ? 'connected' : 'not connected'}, ${i.pending} undelivered held, ${i.relayed} relayed` +
    `${i.refused > 0 ? `, refused ${i.refused} (last: ${i.lastRefusal ?? '-'})` : ''}`];
}

/** The database's replica and the evidence scrub (docs/data-replication.md) in one line; nothing when neither runs. */
function replicaLine(s: AppStatus): string[] {
  const r = s.replica;
  const c = s.scrub;
  const scrub = c ? `  scrub: ${c.passes} pass(es), ${c.files} files, bad ${c.mismatches + c.missing} (repaired ${c.repaired})` : '';
  // Without a replica the scrub has a line only once it found something.
  if (!r) return c && c.mismatches + c.missing > 0 ? [`evidence${scrub.slice(1)}`] : [];
  const state = r.state === 'ok' ? 'ok' : r.state.toUpperCase();
  return [`replica: ${state} ${r.dir}  lag ${r.lag_ms === null ? '-' : `${r.lag_ms} ms`} (max ${r.max_lag_ms})` +
    `${r.reason !== null ? `: ${r.reason}` : ''}  evidence copies ${r.evidence.copied}${r.evidence.pending > 0 ? ` (${r.evidence.pending} pending)` : ''}` +
    `${r.same_volume ? '  SAME VOLUME as storage.dir' : ''}${scrub}`];
}

const ms = (p: { p50: number; p95: number } | null): string => (p === null ? '-' : `${p.p50.toFixed(0)}/${p.p95.toFixed(0)}`);

export function human(s: AppStatus): string {
  const up = s.uplink;
  const lines = [
    `device ${s.device.site}/${s.device.id}  vigil ${s.version}`,
    up === null ? 'uplink: not started'
      : `uplink: ${up.connected ? 'connected' : 'DISCONNECTED'} ${up.url}  outbox ${up.outboxDepth}` +
        `${up.oldestAgeMs !== null ? ` (oldest ${Math.round(up.oldestAgeMs / 1000)} s)` : ''}  acked ${up.acked}` +
        `${up.lastError ? `  last error: ${up.lastError}` : ''}`,
    ...health(s),
    ...storageLine(s),
    ...pairLine(s),
    ...replicaLine(s),
    ...tiers(s),
    '',
    table([
      ['STREAM', 'STATE', 'DECODER', 'MODEL', 'PROVIDER', 'FPS', 'INFER MS p50/95', 'ANALYSED', 'DROPPED', 'EVENTS', 'RESTARTS', 'LAST ERROR'],
      ...s.streams.map((st) => [st.id, st.state, decoderCell(st), st.model ?? '-', st.provider ?? '-', st.fps.toFixed(1),
        ms(st.latency.inferenceMs), String(st.analysis.framesAnalysed), String(st.framesDropped), String(st.analysis.events),
        String(st.restarts), st.lastError ?? '']),
    ]),
  ];
  const broken = s.models.filter((m) => m.error !== null);
  if (broken.length > 0) lines.push('', ...broken.map((m) => `model ${m.name}: ${m.error}`));
  return lines.join('\n');
}

/** `vigilctl status`: the running daemon's streams, models and uplink, over the local socket. */
export function statusCommand(out: Output): Command {
  return new Command('status')
    .description('streams, models and uplink of the running daemon')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--json', 'the full status object')
    .action(async (opts: { socket: string; json?: boolean }) => {
      const body = await call(opts.socket, { method: 'status' });
      out.raw(opts.json ? JSON.stringify(body) : human(body));
    });
}
