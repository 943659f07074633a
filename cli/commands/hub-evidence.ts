import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { errorMessage } from '../../daemon/errors.js';
import { CliError, EXIT } from '../errors.js';
import { EvidenceReceiver, type Outcome } from '../evidence/receiver.js';
import type { Output } from '../output.js';

interface EvidenceOptions {
  hub?: string;
  ca?: string;
  cert?: string;
  key?: string;
  site: string;
  out: string;
  clientId?: string;
  json?: boolean;
}

function readTls(opts: EvidenceOptions): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw new CliError('--cert and --key go together', EXIT.usage);
  const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  for (const k of ['ca', 'cert', 'key'] as const) {
    const file = opts[k];
    if (file === undefined) continue;
    try {
      tls[k] = readFileSync(file);
    } catch (err) {
      throw new CliError(`--${k} ${file}: ${errorMessage(err)}`, EXIT.usage);
    }
  }
  return tls;
}

/**
 * `vigilctl hub evidence`: the reference receiver of evidence files (docs/evidence-delivery.md).
 * A persistent MQTT session (the same client id for the same --out and --site, unless given),
 * so the broker keeps the parts published while it is down; its progress is on disk under
 * `DIR/.partial`, so a restart resumes every partial file. One line per file received whole.
 */
export function hubEvidenceCommand(out: Output): Command {
  return new Command('evidence')
    .description('receive evidence files (snapshots, clips) of a site\'s devices into DIR/<device>/<event id>.{jpg,mp4}, checking each sha256')
    .addOption(new Option('--hub <url>', 'the hub broker (MQTT 5), mqtts://host:8883').env('VIGIL_HUB'))
    .addOption(new Option('--ca <file>', 'CA certificate of the hub broker').env('VIGIL_HUB_CA'))
    .addOption(new Option('--cert <file>', 'client certificate').env('VIGIL_HUB_CERT'))
    .addOption(new Option('--key <file>', 'client key').env('VIGIL_HUB_KEY'))
    .requiredOption('--site <site>', 'the site whose devices\' evidence to receive')
    .requiredOption('--out <dir>', 'where files go: DIR/<device>/<event id>.jpg|.mp4 (partial files under DIR/.partial)')
    .option('--client-id <id>', 'MQTT client id of the persistent session (default: derived from --site and --out)')
    .option('--json', 'one JSON object per line')
    .action(async (opts: EvidenceOptions) => {
      if (opts.hub === undefined) throw new CliError('--hub URL (or VIGIL_HUB) is needed: the broker the devices publish to', EXIT.usage);
      if (/[+#/\u0000]/.test(opts.site) || opts.site === '') throw new CliError(`--site "${opts.site}" must be one MQTT topic level`, EXIT.usage);
      const tls = readTls(opts);
      const outDir = path.resolve(opts.out);
      const receiver = new EvidenceReceiver(outDir, opts.site);
      const clientId = opts.clientId ?? `vigil-evidence-${opts.site}-${createHash('sha256').update(outDir).digest('hex').slice(0, 12)}`;
      for (const p of receiver.pending()) {
        out.error(`resuming ${p.device}/${p.event_id}: ${p.received} of ${p.count} parts on disk`);
      }
      const options: IClientOptions = {
        protocolVersion: 5, clientId, clean: false, reconnectPeriod: 1000, connectTimeout: 10_000,
        // The broker keeps the session (and the parts queued for it) a week while this is down.
        properties: { sessionExpiryInterval: 7 * 24 * 3600 },
        ...tls,
      };
      const report = (o: Outcome): void => {
        switch (o.kind) {
          case 'complete':
            out.result(opts.json, { ok: true, ...o.file }, `${o.file.device} ${o.file.event_id} ${o.file.kind} ${o.file.bytes} bytes sha256 ${o.file.sha256} ${o.file.path}`);
            break;
          case 'bad':
            out.error(`evidence ${o.device}/${o.event_id}: sha256 mismatch (expected ${o.expected}, got ${o.actual}); kept as ${o.path}`);
            if (opts.json) out.raw(JSON.stringify({ ok: false, device: o.device, event_id: o.event_id, path: o.path, expected: o.expected, actual: o.actual, bytes: o.bytes }));
            break;
          case 'invalid':
            out.error(`evidence: ${o.reason}; ignored`);
            break;
          case 'part':
          case 'duplicate':
            break;
        }
      };
      let client: MqttClient;
      try {
        client = await connectAsync(opts.hub, options, false);
      } catch (err) {
        throw new CliError(`cannot reach the hub ${opts.hub}: ${errorMessage(err)}`, EXIT.unreachable);
      }
      client.on('error', (err) => out.error(`hub ${opts.hub}: ${errorMessage(err)}`));
      // The session is persistent: what is published meanwhile waits at the broker.
      client.on('offline', () => out.error(`hub ${opts.hub}: connection lost; reconnecting (parts published meanwhile wait in the session)`));
      client.on('connect', () => out.error(`hub ${opts.hub}: connected again; resuming`));
      // The PUBACK goes after the callback: a part is acknowledged only once it is on disk.
      client.handleMessage = (packet, done) => {
        try {
          const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
          report(receiver.handle(packet.topic, payload, packet.properties?.userProperties));
          done();
        } catch (err) {
          // Not acknowledged: the broker sends it again after the next connect.
          out.error(`evidence: cannot store a part from ${packet.topic}: ${errorMessage(err)}`);
          client.end(true);
          process.exitCode = EXIT.failed;
        }
      };
      await client.subscribeAsync(receiver.topics(), { qos: 1 });
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      out.error(`receiving evidence of site ${opts.site} into ${outDir} (session ${clientId})`);
      try {
        await new Promise<void>((resolve) => {
          stop.signal.addEventListener('abort', () => resolve(), { once: true });
          client.once('end', () => resolve());
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await client.endAsync().catch(() => undefined);
      }
    });
}
