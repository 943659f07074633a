import { Command, InvalidArgumentError } from 'commander';
import type { Result } from '../../daemon/control/results.js';

type TestAlertStatus = Result<'test_alert.status'>;
import { call, DEFAULT_SOCKET } from '../control-client.js';
import { CliError, EXIT } from '../errors.js';
import type { Output } from '../output.js';

export type TestAlertVerdict = 'PASS' | 'WARN' | 'FAIL';

export interface TestAlertReport {
  event_id: string;
  verdict: TestAlertVerdict;
  timeout_s: number;
  /** From the event's commit to the broker's PUBACK; null when none came within the timeout. */
  puback_after_ms: number | null;
  /** From the event's commit to the hub's `vigil.ack/1`; null when none came within the timeout. */
  hub_ack_after_ms: number | null;
}

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
};

const after = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** PUBACK proves the broker has it; only the hub's ack proves an application consumed it. */
export function verdictOf(s: TestAlertStatus, timeoutS: number): TestAlertReport {
  const puback = s.puback_at === null ? null : Math.max(0, s.puback_at - s.recorded_at);
  const hub = s.hub_ack_at === null ? null : Math.max(0, s.hub_ack_at - s.recorded_at);
  const verdict: TestAlertVerdict = puback === null ? 'FAIL' : hub === null ? 'WARN' : 'PASS';
  return { event_id: s.event_id, verdict, timeout_s: timeoutS, puback_after_ms: puback, hub_ack_after_ms: hub };
}

export function humanReport(r: TestAlertReport): string {
  const lines = [`OK    recorded  test alert ${r.event_id} committed to the outbox`];
  lines.push(r.puback_after_ms !== null
    ? `OK    puback    the broker acknowledged it after ${after(r.puback_after_ms)}`
    : `FAIL  puback    no PUBACK within ${r.timeout_s} s: the alert waits in the outbox\n      fix: check the uplink with \`vigilctl status\` (broker URL, TLS files, credentials)`);
  if (r.hub_ack_after_ms !== null) {
    lines.push(`OK    hub ack   the hub acknowledged it after ${after(r.hub_ack_after_ms)}`);
  } else if (r.puback_after_ms !== null) {
    lines.push(`WARN  hub ack   no acknowledgement within ${r.timeout_s} s: the broker has the alert, but no hub application consumed it` +
      '\n      fix: check that the hub application subscribes to vigil/v1/+/+/alerts and answers on …/ack (docs/hub-contract.md)');
  } else {
    lines.push('FAIL  hub ack   not acknowledged (the alert never left the device)');
  }
  lines.push(`test-alert: ${r.verdict}`);
  return lines.join('\n');
}

/**
 * `vigilctl test-alert`: the daemon records a test alert, and this waits for the broker's PUBACK and
 * the hub's acknowledgement, up to `--timeout`, reporting each. Exit 0 on PASS and on WARN (PUBACK
 * but no hub ack: the device works, the hub side does not), 1 on FAIL, unless `--require-hub-ack`.
 */
export function testAlertCommand(out: Output): Command {
  return new Command('test-alert')
    .description('send a test alert to the hub and wait for the broker\'s PUBACK and the hub\'s acknowledgement')
    .option('--socket <path>', 'vigild control socket; env VIGIL_SOCKET', DEFAULT_SOCKET)
    .option('--timeout <s>', 'seconds to wait for the PUBACK and the hub\'s ack', positive, 30)
    .option('--require-hub-ack', 'exit 1 when the hub does not acknowledge (a WARN otherwise)')
    .option('--json', 'one JSON object: event_id, verdict, puback_after_ms, hub_ack_after_ms')
    .action(async (opts: { socket: string; timeout: number; requireHubAck?: boolean; json?: boolean }) => {
      const sent = await call(opts.socket, { method: 'test_alert.send' });
      const deadline = Date.now() + opts.timeout * 1000;
      let status = sent;
      while (status.hub_ack_at === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, Math.min(200, Math.max(0, deadline - Date.now()))));
        status = await call(opts.socket, { method: 'test_alert.status', params: { event_id: sent.event_id } });
      }
      const report = verdictOf(status, opts.timeout);
      out.raw(opts.json ? JSON.stringify(report) : humanReport(report));
      if (report.verdict === 'FAIL' || (report.verdict === 'WARN' && opts.requireHubAck)) {
        throw new CliError(report.verdict === 'FAIL' ? 'the test alert did not reach the broker' : 'the hub did not acknowledge the test alert',
          EXIT.failed);
      }
    });
}
