import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import type { AggregationRule } from '../../daemon/learning/aggregate.js';
import { loadRegistry } from '../../daemon/learning/device-registry.js';
import { FEATURE_DIM } from '../../daemon/learning/features.js';
import { HubAggregator } from '../../daemon/learning/hub-aggregator.js';
import { readPrivateKey, writeKeyPair } from '../../daemon/learning/keys.js';
import { createLogger } from '../../daemon/log.js';
import { errorMessage } from '../../daemon/errors.js';
import { CliError, EXIT } from '../errors.js';
import type { Output } from '../output.js';

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

/** The broker's CA and the client's certificate and key, read now so a wrong path is a usage error. */
function tlsFiles(opts: Pick<RunOptions, 'ca' | 'cert' | 'key'>): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw new Error('--cert and --key go together');
  const out: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  for (const k of ['ca', 'cert', 'key'] as const) {
    const file = opts[k];
    if (file === undefined) continue;
    try {
      out[k] = readFileSync(file);
    } catch (err) {
      throw new Error(`--${k} ${file}: ${errorMessage(err)}`);
    }
  }
  return out;
}

interface RunOptions {
  url?: string;
  ca?: string;
  cert?: string;
  key?: string;
  site: string;
  group: string;
  registry: string;
  signKey: string;
  decryptKey: string;
  rule: AggregationRule;
  minParticipants: number;
  roundTimeout: number;
  rounds?: number;
  serverLr: number;
  state?: string;
  username?: string;
  passwordFile?: string;
}

/**
 * `vigilctl hub fl`: the hub side of federated learning, run next to the regional broker. `keygen`
 * makes the hub's two key pairs; `run` aggregates rounds until stopped (or for `--rounds`).
 */
export function hubFlCommand(out: Output): Command {
  const cmd = new Command('fl').description('federated-learning aggregator for one site');
  cmd.command('keygen')
    .description('make the hub keys: hub-sign.{key,pub} (Ed25519) and hub-encrypt.{key,pub} (X25519)')
    .requiredOption('--out <dir>', 'directory to write them to')
    .action((opts: { out: string }) => {
      writeKeyPair(opts.out, 'hub-sign', 'ed25519');
      writeKeyPair(opts.out, 'hub-encrypt', 'x25519');
      out.raw(`wrote ${opts.out}/hub-sign.key, hub-sign.pub, hub-encrypt.key, hub-encrypt.pub; ` +
        'devices need the two .pub files as learning.hub_sign_key and learning.hub_encrypt_key');
    });
  cmd.command('run', { isDefault: true })
    .description('run rounds: verify, decrypt and aggregate updates, publish the signed global model (retained)')
    // The same variables as vigilctl's remote options (cli/remote/options.ts): one operator
    // environment reaches the TLS hub broker for both.
    .addOption(new Option('--url <url>', 'broker URL (MQTT 5), mqtts://host:8883').env('VIGIL_HUB'))
    .addOption(new Option('--ca <file>', 'CA certificate of the broker').env('VIGIL_HUB_CA'))
    .addOption(new Option('--cert <file>', 'client certificate (CN "hub" in the example ACL)').env('VIGIL_HUB_CERT'))
    .addOption(new Option('--key <file>', 'client key').env('VIGIL_HUB_KEY'))
    .requiredOption('--site <site>', 'the site whose devices take part')
    .requiredOption('--registry <file>', 'device-key registry (YAML/JSON: devices: { <id>: <PEM public key> })')
    .requiredOption('--sign-key <file>', 'hub Ed25519 private key (PEM)')
    .requiredOption('--decrypt-key <file>', 'hub X25519 private key (PEM)')
    .option('--group <name>', 'MQTT 5 shared-subscription group', 'vigil-fl')
    .addOption(new Option('--rule <rule>', 'aggregation rule').choices(['fedavg', 'trimmed_mean', 'median']).default('fedavg'))
    .option('--min-participants <n>', 'close a round once this many devices have sent', positiveInt, 3)
    .option('--round-timeout <s>', '…or this many seconds after its first update', positiveInt, 600)
    .option('--rounds <n>', 'stop after this many rounds', positiveInt)
    .option('--server-lr <x>', 'server step: the model moves by this times the aggregated delta', (v) => {
      const n = Number(v);
      if (!(n > 0 && n <= 10)) throw new InvalidArgumentError('expected a number in (0, 10]');
      return n;
    }, 1)
    .option('--state <file>', 'keep round and weights here across restarts')
    .option('--username <name>', 'MQTT username')
    .option('--password-file <file>', 'MQTT password, read from this file')
    .action(async (opts: RunOptions) => {
      if (opts.url === undefined) throw new CliError('--url URL (or VIGIL_HUB) is needed: the broker to aggregate on', EXIT.usage);
      const url = opts.url;
      let hub: HubAggregator;
      try {
        const tls = tlsFiles(opts);
        hub = new HubAggregator({
          url, site: opts.site, group: opts.group, registry: loadRegistry(opts.registry),
          signKey: readPrivateKey(opts.signKey, 'ed25519', '--sign-key'), decryptKey: readPrivateKey(opts.decryptKey, 'x25519', '--decrypt-key'),
          rule: opts.rule, serverLr: opts.serverLr, minParticipants: opts.minParticipants, roundTimeoutMs: opts.roundTimeout * 1000, length: FEATURE_DIM + 1,
          ...(opts.state !== undefined ? { statePath: opts.state } : {}),
          mqtt: {
            ...tls,
            ...(opts.username !== undefined ? { username: opts.username } : {}),
            ...(opts.passwordFile !== undefined ? { password: readFileSync(opts.passwordFile, 'utf8').trim() } : {}),
          },
          log: createLogger(process.env['VIGIL_LOG_LEVEL'] ?? 'info', process.stderr),
        });
      } catch (err) {
        throw new CliError((err as Error).message, EXIT.usage);
      }
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      hub.on('round', (r) => {
        out.raw(JSON.stringify({ round: r.round, participants: r.participants, samples: r.samples, rule: r.rule, update_norm: r.updateNorm }));
        if (opts.rounds !== undefined && r.round >= opts.rounds) stop.abort();
      });
      try {
        await hub.start(stop.signal).catch((err: unknown) => {
          throw new CliError(`cannot reach the broker ${url}: ${errorMessage(err)}`, EXIT.unreachable);
        });
        if (!stop.signal.aborted) await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await hub.stop();
      }
    });
  return cmd;
}
