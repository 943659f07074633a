import { Command } from 'commander';
import type { AppStatus } from '../../daemon/app.js';
import { call, DEFAULT_SOCKET } from '../control-client.js';
import type { Output } from '../output.js';

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

function human(s: AppStatus): string {
  const up = s.uplink;
  const lines = [
    `device ${s.device.site}/${s.device.id}  vigil ${s.version}`,
    up === null ? 'uplink: not started'
      : `uplink: ${up.connected ? 'connected' : 'DISCONNECTED'} ${up.url}  outbox ${up.outboxDepth}` +
        `${up.oldestAgeMs !== null ? ` (oldest ${Math.round(up.oldestAgeMs / 1000)} s)` : ''}  acked ${up.acked}` +
        `${up.lastError ? `  last error: ${up.lastError}` : ''}`,
    '',
    table([
      ['STREAM', 'STATE', 'DECODER', 'MODEL', 'PROVIDER', 'FPS', 'ANALYSED', 'DROPPED', 'EVENTS', 'RESTARTS', 'LAST ERROR'],
      ...s.streams.map((st) => [st.id, st.state, st.decoder ?? '-', st.model ?? '-', st.provider ?? '-', st.fps.toFixed(1),
        String(st.analysis.framesAnalysed), String(st.framesDropped), String(st.analysis.events), String(st.restarts),
        st.lastError ?? '']),
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
      const body = await call(opts.socket, { method: 'status' }) as AppStatus;
      out.raw(opts.json ? JSON.stringify(body) : human(body));
    });
}
