import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';
import { CliError } from '../../cli/errors.js';
import type { TestAlertReport } from '../../cli/commands/test-alert.js';
import { alertSchema } from '../../daemon/uplink/payloads.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/shared.js';
import { openDb, spawnDaemon, UUID_V7, writeConfig } from './daemon-harness.js';

async function vigilctl(args: string[]): Promise<{ text: string; error: unknown }> {
  const lines: string[] = [];
  const out: Output = { raw: (t) => lines.push(t), result: (_j, _v, h) => lines.push(h), error: (t) => lines.push(t) };
  try {
    await buildProgram(out).parseAsync(args, { from: 'user' });
    return { text: lines.join('\n'), error: undefined };
  } catch (error) {
    return { text: lines.join('\n'), error };
  }
}

void test('vigilctl test-alert: PASS with a hub that acks, WARN with none, FAIL without a broker', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const socket = path.join(dir, 'vigild.sock');
  const state = path.join(dir, 'state');
  const config = await writeConfig(dir, {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: state }, mqtt: { url: broker.url },
    streams: [], telemetry: { prometheus: { enabled: false } },
  });
  const vigild = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('connected', (l) => l.msg === 'connected to the MQTT broker', 30_000);
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 30_000);

  // A hub application: stores nothing, acknowledges every alert it receives on the device's ack topic.
  const hub = await connectAsync(broker.url, { protocolVersion: 5, clientId: 'hub-app' });
  const received: unknown[] = [];
  hub.on('message', (topic, payload) => {
    if (!topic.endsWith('/alerts')) return;
    const alert = alertSchema.parse(JSON.parse(payload.toString()));
    received.push(alert);
    // Garbage first: a malformed ack must be ignored, not crash the daemon or count as an ack.
    hub.publish('vigil/v1/lab/cam-1/ack', '{"event_id": 42}');
    hub.publish('vigil/v1/lab/cam-1/ack', JSON.stringify({ schema: 'vigil.ack/1', event_id: alert.id, ts: new Date().toISOString() }), { qos: 1 });
  });
  await hub.subscribeAsync('vigil/v1/+/+/alerts', { qos: 1 });

  const pass = await vigilctl(['test-alert', '--socket', socket, '--timeout', '10', '--json']);
  assert.equal(pass.error, undefined, pass.text);
  const report = JSON.parse(pass.text) as TestAlertReport;
  assert.equal(report.verdict, 'PASS', pass.text);
  assert.match(report.event_id, UUID_V7);
  // Both measured; not ordered: the PUBACK is stamped when the drainer commits it in a batch, which
  // can come after the hub's ack has already been handled.
  assert.ok(report.puback_after_ms !== null && report.hub_ack_after_ms !== null, pass.text);
  assert.equal(received.length, 1);
  assert.deepEqual(received[0], {
    schema: 'vigil.alert/1', id: report.event_id, device: 'cam-1', site: 'lab', stream: 'vigil-test', rule: 'test-alert',
    severity: 'alert', ts: (received[0] as { ts: string }).ts, objects: [], test: true, kind: 'test',
  });
  const row = openDb(t, state).prepare('SELECT stream, kind, json_extract(payload, \'$.test\') AS test, uplinked_at FROM events WHERE id = ?')
    .get(report.event_id) as { stream: string; kind: string; test: number; uplinked_at: number | null };
  assert.equal(row.kind, 'test');
  assert.equal(row.test, 1, 'stored marked as a test');
  assert.ok(row.uplinked_at !== null, 'the PUBACK was recorded');
  assert.ok(vigild.lines.some((l) => l.msg === 'hub ack does not match vigil.ack/1; ignored'), 'the malformed ack was reported');

  // The hub application is gone: the broker still acknowledges, nobody consumes.
  await hub.endAsync();
  const human = await vigilctl(['test-alert', '--socket', socket, '--timeout', '1']);
  assert.equal(human.error, undefined, human.text);
  assert.match(human.text, /^OK {4}puback {4}the broker acknowledged it after \d+\.\d\d s$/m);
  assert.match(human.text, /^WARN {2}hub ack {3}no acknowledgement within 1 s: the broker has the alert, but no hub application consumed it$/m);
  assert.match(human.text, /\ntest-alert: WARN$/);
  const strict = await vigilctl(['test-alert', '--socket', socket, '--timeout', '1', '--require-hub-ack']);
  assert.ok(strict.error instanceof CliError && strict.error.exitCode === 1, `${strict.text} ${String(strict.error)}`);

  // No broker: the alert stays in the outbox.
  await broker.stop();
  const failed = await vigilctl(['test-alert', '--socket', socket, '--timeout', '1']);
  assert.ok(failed.error instanceof CliError && failed.error.exitCode === 1, failed.text);
  assert.match(failed.text, /^FAIL {2}puback {4}no PUBACK within 1 s/m);
  assert.match(failed.text, /\ntest-alert: FAIL$/);

  const bad = await vigilctl(['test-alert', '--socket', socket, '--timeout', 'soon']);
  assert.ok(bad.error !== undefined, 'a bad --timeout is a usage error');
  assert.equal((await vigild.stop()).code, 0);
});
