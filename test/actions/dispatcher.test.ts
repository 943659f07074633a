import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import { ActionDispatcher } from '../../daemon/actions/dispatcher.js';
import { gpiosetArgs } from '../../daemon/actions/gpio.js';
import { ActionRunner } from '../../daemon/actions/runner.js';
import { localEventSchema, type ActionEvent } from '../../daemon/actions/local-event.js';
import { validateConfig } from '../../daemon/config/load.js';
import { actionsSchema, type ActionsConfig } from '../../daemon/config/schema.js';
import { silentLogger } from '../../daemon/log.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';

const device = { id: 'box-1', site: 'depot' };

const event = (n: number, severity: ActionEvent['severity'] = 'alert', ruleId = 'door'): ActionEvent => ({
  eventId: `0190-event-${n}`, ts: Date.UTC(2026, 0, 2, 3, 4, 5), streamId: 'gate', ruleId, severity, kind: 'zone', activity: 'enter', trackId: 7,
  objects: [{ label: 'person', score: 0.87, box: [10, 20, 110, 220] }],
});

/**
 * A stand-in for a program: appends its argv (one JSON line per run) and the VIGIL_* environment to
 * `<dir>/<name>.log`. There is no GPIO chip here, so gpioset is such a stand-in on PATH.
 */
async function recorder(dir: string, name: string, exitCode = 0): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `#!/usr/bin/env python3
import json, os, sys
env = {k: v for k, v in os.environ.items() if k.startswith('VIGIL_')}
with open(${JSON.stringify(`${file}.log`)}, 'a') as f:
    f.write(json.dumps({'argv': sys.argv[1:], 'env': env}) + '\\n')
sys.exit(${exitCode})
`);
  await chmod(file, 0o755);
  return file;
}

async function runs(file: string): Promise<{ argv: string[]; env: Record<string, string> }[]> {
  try {
    return (await readFile(`${file}.log`, 'utf8')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { argv: string[]; env: Record<string, string> });
  } catch {
    return [];
  }
}

test('an alert publishes on the local broker, runs the hook with the event in its environment and pulses the GPIO line', async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const hook = await recorder(dir, 'siren');
  const gpioset = await recorder(dir, 'gpioset');
  // gpioset is found on PATH, as on a device.
  const savedPath = process.env['PATH'];
  process.env['PATH'] = `${dir}:${savedPath ?? ''}`;
  t.after(() => { process.env['PATH'] = savedPath; });

  const sub = await connectAsync(broker.url, { clientId: 'local-consumer' });
  t.after(() => sub.endAsync());
  const got: { topic: string; body: unknown }[] = [];
  sub.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) }));
  await sub.subscribeAsync('site/#', { qos: 1 });

  const config: ActionsConfig = actionsSchema.parse({
    mqtt: { url: broker.url, topic: 'site/{site}/{stream}/{rule}' },
    on: [
      { severities: ['alert', 'critical'], mqtt: true, command: [hook, '--zone', '$(touch /tmp/pwned); `id`', '{rule}'], gpio: { chip: 'gpiochip0', line: 17, hold_ms: 250 } },
      { severities: ['warning'], rules: ['yard'], mqtt: { topic: 'site/warnings' } },
    ],
  });
  const done: { id: string; at: number; ok: boolean }[] = [];
  const actions = new ActionDispatcher({ config, device, log: silentLogger(), onDone: (id, at, ok) => done.push({ id, at, ok }) });
  actions.start();
  t.after(() => actions.stop());
  await waitFor('the local broker connection', () => ((actions as unknown as { publisher: { connected: boolean } }).publisher.connected ? true : undefined));

  const firedAt = performance.timeOrigin + performance.now();
  actions.fire(event(1));
  // fire() only schedules: nothing has been published or started when it returns.
  assert.equal(done.length, 0);
  assert.deepEqual(await runs(hook), []);
  actions.fire(event(2, 'warning', 'door')); // warning actions are for rule yard only
  actions.fire(event(3, 'info'));             // no action for info
  actions.fire(event(4, 'warning', 'yard'));

  await waitFor('both acted-on events done', () => (done.length === 2 ? true : undefined));
  // In either order: event 4 only publishes, event 1 also starts two programs.
  assert.deepEqual(done.map((d) => [d.id, d.ok]).sort(), [['0190-event-1', true], ['0190-event-4', true]]);
  assert.ok(done.every((d) => d.at >= firedAt));
  await waitFor('the local messages', () => (got.length === 2 ? true : undefined));
  assert.deepEqual(got.map((g) => g.topic).sort(), ['site/depot/gate/door', 'site/warnings']);
  const msg = localEventSchema.parse(got.find((g) => g.topic === 'site/depot/gate/door')?.body);
  assert.deepEqual(msg, {
    schema: 'vigil.local/1', id: '0190-event-1', device: 'box-1', site: 'depot', stream: 'gate', rule: 'door', severity: 'alert', kind: 'zone',
    ts: '2026-01-02T03:04:05.000Z', activity: 'enter', track_id: 7, objects: [{ label: 'person', score: 0.87, box: [10, 20, 110, 220] }],
  });

  await waitFor('the hook and gpioset to have run', async () => ((await runs(hook)).length === 1 && (await runs(gpioset)).length === 1 ? true : undefined));
  const [run] = await runs(hook);
  // argv exactly as configured: no shell ran the metacharacters, nothing was interpolated.
  assert.deepEqual(run?.argv, ['--zone', '$(touch /tmp/pwned); `id`', '{rule}']);
  assert.equal(run?.env['VIGIL_EVENT_ID'], '0190-event-1');
  assert.equal(run?.env['VIGIL_RULE'], 'door');
  assert.equal(run?.env['VIGIL_SEVERITY'], 'alert');
  assert.equal(run?.env['VIGIL_TRACK_ID'], '7');
  assert.equal(run?.env['VIGIL_LABEL'], 'person');
  assert.equal((JSON.parse(run?.env["VIGIL_EVENT_JSON"] ?? "{}") as { id?: string }).id, "0190-event-1");
  assert.deepEqual((await runs(gpioset))[0]?.argv, ['--mode=time', '--usec=250000', 'gpiochip0', '17=1']);
  await waitFor('the children to exit', () => (actions.runningChildren === 0 ? true : undefined));
  assert.deepEqual(actions.stats, { events: 2, started: 4, failed: 0, dropped: 0 });
});

test('failures are counted and logged, never thrown: a missing program, a failing hook, a broker that is down', async (t) => {
  const dir = await tempDir(t);
  const failing = await recorder(dir, 'failing', 3);
  const config = actionsSchema.parse({
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    gpioset: path.join(dir, 'no-such-gpioset'),
    on: [{ severities: ['critical'], mqtt: true, command: [failing], gpio: { chip: 'gpiochip0', line: 3, hold_ms: 0 } }],
  });
  const done: boolean[] = [];
  const actions = new ActionDispatcher({ config, device, log: silentLogger(), onDone: (_id, _at, ok) => done.push(ok) });
  actions.start();
  t.after(() => actions.stop());
  assert.doesNotThrow(() => actions.fire(event(1, 'critical')));
  await waitFor('the event settled', () => (done.length === 1 ? true : undefined));
  assert.deepEqual(done, [false]);
  // not published (no broker), gpioset missing; the hook started, then its exit status 3 is a failure too
  await waitFor('the hook exit counted', () => (actions.stats.failed === 3 ? true : undefined));
  assert.equal(actions.stats.started, 3);
  assert.equal((await runs(failing)).length, 1);
  await waitFor('no child left running', () => (actions.runningChildren === 0 ? true : undefined));
});

test('beyond max_running children an action is skipped and counted, not queued', async (t) => {
  const dir = await tempDir(t);
  const slow = path.join(dir, 'slow');
  await writeFile(slow, '#!/bin/sh\nexec sleep 5\n');
  await chmod(slow, 0o755);
  const config = actionsSchema.parse({ max_running: 2, on: [{ severities: ['alert'], command: [slow], command_timeout_ms: 1500 }] });
  const actions = new ActionDispatcher({ config, device, log: silentLogger() });
  t.after(() => actions.stop());
  for (let i = 0; i < 4; i++) actions.fire(event(i));
  await waitFor('two running, two skipped', () => (actions.stats.dropped === 2 && actions.runningChildren === 2 ? true : undefined));
  // The timeout kills the hung hooks and counts them as failed.
  await waitFor('the hooks killed at their timeout', () => (actions.runningChildren === 0 && actions.stats.failed === 2 ? true : undefined), 10_000);
});

test('gpioset arguments for libgpiod 1.x and 2.x', () => {
  const pulse = { chip: 'gpiochip1', line: 5, value: 1 as const, hold_ms: 1500 };
  assert.deepEqual(gpiosetArgs(pulse, 'v1'), ['--mode=time', '--usec=1500000', 'gpiochip1', '5=1']);
  assert.deepEqual(gpiosetArgs({ ...pulse, hold_ms: 0, value: 0 }, 'v1'), ['--mode=exit', 'gpiochip1', '5=0']);
  assert.deepEqual(gpiosetArgs(pulse, 'v2'), ['--chip', 'gpiochip1', '--toggle', '1500,0', '5=1']);
  assert.deepEqual(gpiosetArgs({ ...pulse, hold_ms: 0 }, 'v2'), ['--chip', 'gpiochip1', '--toggle', '0', '5=1']);
});

test('the actions config refuses what cannot work, at its path', () => {
  const issues = (input: unknown): string[] => {
    const r = actionsSchema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  assert.deepEqual(issues({ on: [{ severities: ['alert'] }] }), ['on.0.mqtt: an action needs mqtt, command or gpio']);
  assert.deepEqual(issues({ on: [{ severities: ['alert'], mqtt: true }] }), ['mqtt: an action publishes on the local broker but actions.mqtt is not set']);
  assert.match(issues({ on: [{ severities: ['alert'], gpio: { chip: '--help', line: 1 } }] }).join(), /on\.0\.gpio\.chip/);
  assert.match(issues({ on: [{ severities: ['alert'], command: 'siren --on' }] }).join(), /on\.0\.command/);
});

test('in vigild the actions run in a small runner process: programs are its children, and a runner that dies is replaced', async (t) => {
  const dir = await tempDir(t);
  const broker = await startMosquitto(t);
  const hook = path.join(dir, 'pid');
  // Records the pid of the process that started it.
  await writeFile(hook, `#!/bin/sh\necho $PPID >> ${dir}/ppid.log\n`);
  await chmod(hook, 0o755);
  const sub = await connectAsync(broker.url, { clientId: 'local-consumer' });
  t.after(() => sub.endAsync());
  const got: string[] = [];
  sub.on('message', (_topic, payload) => got.push((JSON.parse(payload.toString()) as { id: string }).id));
  await sub.subscribeAsync('vigil/local/#', { qos: 1 });

  const done: { id: string; at: number; ok: boolean }[] = [];
  const runner = new ActionRunner({
    config: actionsSchema.parse({ mqtt: { url: broker.url }, on: [{ severities: ['alert'], mqtt: true, command: [hook] }] }),
    device, log: silentLogger(), onDone: (id, at, ok) => done.push({ id, at, ok }),
  });
  runner.start();
  t.after(() => runner.stop());
  const first = runner.pid;
  assert.ok(first !== null && first !== process.pid);
  const before = performance.timeOrigin + performance.now();
  runner.fire(event(1));
  runner.fire(event(2, 'info')); // no action for info: nothing sent
  await waitFor('event 1 done', () => (done.length === 1 ? true : undefined), 15_000);
  assert.deepEqual(done.map((d) => [d.id, d.ok]), [['0190-event-1', true]]);
  // The runner's clock is this process's wall clock: the time is after the fire, not in the future.
  assert.ok(done[0]!.at >= before && done[0]!.at <= performance.timeOrigin + performance.now());
  await waitFor('the local message', () => (got.includes('0190-event-1') ? true : undefined));

  process.kill(first, 'SIGKILL');
  await waitFor('the runner gone', () => (runner.pid === null ? true : undefined));
  runner.fire(event(3));
  await waitFor('event 3 done by a new runner', () => (done.length === 2 ? true : undefined), 15_000);
  assert.ok(runner.pid !== null && runner.pid !== first);
  await waitFor('both hooks ran', async () => {
    const lines = (await readFile(path.join(dir, 'ppid.log'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
    return lines.length === 2 ? lines.map(Number) : undefined;
  }).then((ppids) => {
    assert.equal(ppids[0], first, 'the first hook was started by the first runner');
    assert.ok(!ppids.includes(process.pid), 'never by vigild itself');
  });
  assert.deepEqual(runner.stats, { events: 1, started: 2, failed: 0, dropped: 0 });
});

test('an action rule naming a rule that does not exist is a config error at its path', () => {
  assert.throws(() => validateConfig({
    device: { id: 'd', site: 's' }, mqtt: { url: 'mqtt://127.0.0.1:1' },
    streams: [{ id: 'gate', uri: 'test://ball' }],
    rules: [{ id: 'door', stream: 'gate', kind: 'zone', classes: ['person'], zone: [[0, 0], [1, 0], [1, 1]] }],
    actions: { on: [{ severities: ['alert'], rules: ['door', 'dor'], command: ['/bin/true'] }] },
  }, 'test'), /actions\.on\[0\]\.rules\[1\]: unknown rule "dor"/);
});
