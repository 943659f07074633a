import { Command } from 'commander';
import { connectHub } from '../remote/hub.js';
import { hubOptions, type RemoteOptions } from '../remote/route.js';
import { retainedStates } from '../remote/states.js';
import type { Output } from '../output.js';
import { table } from '../table.js';

/** `vigilctl fleet ls`: every device the hub knows, from the retained state messages. */
export function fleetCommand(out: Output): Command {
  const cmd = new Command('fleet').description('devices known to the hub (needs --hub)');
  cmd.command('ls')
    .description('list devices from their retained state messages, with when each was last seen')
    .option('--site <site>', 'only this site')
    .option('--json', 'one JSON array of state messages')
    .action(async (opts: { site?: string; json?: boolean }, self: Command) => {
      const globals = self.optsWithGlobals<RemoteOptions>();
      const hub = hubOptions(globals);
      const { client } = await connectHub(hub);
      try {
        const states = await retainedStates(client, opts.site ?? '+', '+', hub.timeoutMs);
        if (opts.json) {
          out.raw(JSON.stringify(states));
          return;
        }
        out.raw(table([
          ['SITE', 'DEVICE', 'STATE', 'LAST SEEN', 'VERSION', 'STREAMS'],
          ...states.map((s) => [s.site, s.device, s.state, s.state === 'online' ? `now (online since ${s.ts})` : s.ts, s.version,
            s.streams.length === 0 ? '-' : s.streams.map((st) => `${st.id}:${st.state}`).join(',')]),
        ]));
      } finally {
        await client.endAsync(true).catch(() => undefined);
      }
    });
  return cmd;
}
