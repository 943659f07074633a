import path from 'node:path';
import { Command } from 'commander';
import type { Result } from '../../daemon/control/results.js';
import { loadOrCreateDeviceKey, publicPem } from '../../daemon/learning/keys.js';
import { call, DEFAULT_SOCKET } from '../control-client.js';
import type { Output } from '../output.js';

const pct = (v: number | null): string => (v === null ? '-' : `${(100 * v).toFixed(1)} %`);

export function humanFl(s: Result<'fl.status'>): string {
  const p = s.privacy;
  const privacy = p.dp
    ? `ε ${p.epsilonSpent === null ? 'unbounded (an update left without noise)' : p.epsilonSpent.toFixed(2)} of ${p.epsilonTarget ?? '-'} spent (δ ${p.delta ?? '-'}, noise multiplier ${p.noiseMultiplier?.toFixed(2) ?? '-'})`
    : 'differential privacy off';
  return [
    `round ${s.round ?? '- (no global model yet)'}  participants ${s.participants ?? '-'}  updates sent ${s.roundsSent} (last for round ${s.lastSentRound ?? '-'})`,
    `labelled events ${s.labelled} (held out ${s.holdout})  feature vectors ${s.features}`,
    `accuracy on held-out reviews: local ${pct(s.localAccuracy)}  global ${pct(s.globalAccuracy)}`,
    `verifier threshold ${s.threshold}  likely false alarms kept on the device ${s.suppressed}`,
    `privacy: ${privacy}`,
    `last round: ${s.lastOutcome ?? '-'}${s.lastError ? `  last error: ${s.lastError}` : ''}`,
  ].join('\n');
}

/** `vigilctl fl`: federated learning on this device. */
export function flCommand(out: Output): Command {
  const cmd = new Command('fl').description('federated learning of the alert verifier on this device');
  cmd.command('status')
    .description('round, participants, local and global accuracy, privacy spent')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--json', 'the status object')
    .action(async (opts: { socket: string; json?: boolean }) => {
      const body = await call(opts.socket, { method: 'fl.status' });
      out.raw(opts.json ? JSON.stringify(body) : humanFl(body));
    });
  cmd.command('key')
    .description("print the device's Ed25519 public key for the hub's registry (made if absent)")
    .option('--state-dir <dir>', 'state directory', process.env['VIGIL_STATE_DIR'] ?? '/var/lib/vigil')
    .option('--key <file>', 'the key file, if learning.device_key names another')
    .action((opts: { stateDir: string; key?: string }) => {
      out.raw(publicPem(loadOrCreateDeviceKey(opts.key ?? path.join(opts.stateDir, 'fl-device.key'))).trimEnd());
    });
  return cmd;
}
