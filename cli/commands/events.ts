import { Command, InvalidArgumentError } from 'commander';
import { EventStore } from '../../daemon/store/event-store.js';
import type { StoredEvent } from '../../daemon/store/types.js';
import { call } from '../control-client.js';
import { currentRoute } from '../remote/route.js';
import type { Output } from '../output.js';

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

/**
 * `vigilctl events`: reads the device's event store directly. The remote path through the hub
 * arrives with the command channel; this one works on the device even when the daemon is down.
 */
export function eventsCommand(out: Output): Command {
  const cmd = new Command('events').description('events recorded on this device');
  cmd.command('list')
    .description('list recent events, newest first')
    .option('--state-dir <dir>', 'state directory holding vigil.db', process.env['VIGIL_STATE_DIR'] ?? '/var/lib/vigil')
    .option('--stream <id>', 'only this stream')
    .option('--limit <n>', 'at most this many', positiveInt, 20)
    .option('--json', 'one JSON array')
    .action(async (opts: { stateDir: string; stream?: string; limit: number; json?: boolean }) => {
      // Through the hub (--device) the daemon answers; here the database is read directly.
      const remote = currentRoute() !== null;
      const store = remote ? null : EventStore.open(opts.stateDir);
      try {
        const query = { limit: opts.limit, ...(opts.stream !== undefined ? { stream: opts.stream } : {}) };
        const events = store ? store.listEvents(query) : await call('', { method: 'events.list', params: query }) as StoredEvent[];
        if (opts.json) {
          out.raw(JSON.stringify(events));
          return;
        }
        for (const e of events) {
          const objects = e.payload.objects.map((o) => `${o.label} ${o.score.toFixed(2)}`).join(', ');
          const sent = e.uplinkedAt === null ? 'pending' : 'sent';
          out.raw(`${new Date(e.ts).toISOString()}  ${e.severity.padEnd(8)} ${e.stream}/${e.rule}  ${objects}  [${sent}] ${e.id}`);
        }
      } finally {
        store?.close();
      }
    });
  return cmd;
}
