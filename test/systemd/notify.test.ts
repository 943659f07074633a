import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { createLogger, type Logger } from '../../daemon/log.js';
import { SdNotifier, watchdogIntervalMs, type Health, type NotifyTimers } from '../../daemon/systemd/notify.js';
import { spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { field, notifyListener, type NotifyListener } from './helpers.js';

interface LogRecord {
  level: string;
  msg: string;
  [k: string]: unknown;
}

function capture(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const log = createLogger('debug', { write: (s: string) => { records.push(JSON.parse(s) as LogRecord); } });
  return { log, records };
}

/** Timers ticked by hand: the loop runs exactly when the test says. */
function manualTimers(): NotifyTimers & { period: number | null; fire(): void } {
  let fn: (() => void) | null = null;
  const timers = {
    period: null as number | null,
    setInterval(f: () => void, ms: number): unknown {
      fn = f;
      timers.period = ms;
      return 1;
    },
    clearInterval(): void {
      fn = null;
      timers.period = null;
    },
    fire(): void {
      if (fn === null) throw new Error('no loop running');
      fn();
    },
  };
  return timers;
}

/**
 * Datagrams from one sender to one Unix datagram socket arrive in order, so a marker sent after
 * some calls proves whether those calls sent anything, without waiting for a fixed time.
 */
async function sendMarker(listener: NotifyListener, notifier: SdNotifier, marker: string): Promise<void> {
  notifier.status(marker);
  await waitFor(`marker ${marker}`, () => (listener.with('STATUS', marker).length > 0 ? true : undefined));
}

void test('without NOTIFY_SOCKET the notifier does nothing, says nothing and never throws', () => {
  const { log, records } = capture();
  const timers = manualTimers();
  const n = new SdNotifier({ log, env: { WATCHDOG_USEC: '2000000' }, timers });
  assert.equal(n.enabled, false);
  assert.equal(n.watchdogMs, null);
  n.ready('x');
  n.status('y');
  n.startWatchdog(() => ({ healthy: true, status: 'z' }));
  assert.equal(timers.period, null, 'no loop started');
  n.tick(() => { throw new Error('must not be called'); });
  n.notifyStopping();
  n.close();
  assert.deepEqual(records, []);
});

void test('READY, STATUS and STOPPING reach the socket; nothing is sent after STOPPING', async (t) => {
  const listener = await notifyListener(t);
  const { log } = capture();
  const n = new SdNotifier({ log, env: { NOTIFY_SOCKET: listener.path } });
  t.after(() => n.close());
  assert.equal(n.enabled, true);
  assert.equal(n.watchdogMs, null);

  n.ready('1/1 streams playing');
  await waitFor('READY', () => listener.received[0]);
  assert.equal(listener.received[0]?.text, 'READY=1\nSTATUS=1/1 streams playing');

  n.status('1/1 streams playing'); // unchanged: not sent again
  n.status('0/1 streams playing,\nretrying'); // a newline would start a new assignment
  await waitFor('STATUS', () => listener.received[1]);
  assert.equal(listener.received[1]?.text, 'STATUS=0/1 streams playing, retrying');
  assert.equal(listener.received.length, 2);

  n.notifyStopping();
  await waitFor('STOPPING', () => listener.with('STOPPING', '1')[0]);
  assert.equal(listener.received[2]?.text, 'STOPPING=1\nSTATUS=stopping');
  n.ready('late');
  n.status('late');
  // Another sender's marker can overtake nothing of ours: our sends are synchronous.
  const other = new SdNotifier({ log, env: { NOTIFY_SOCKET: listener.path } });
  t.after(() => other.close());
  await sendMarker(listener, other, 'marker');
  assert.deepEqual(listener.received.map((d) => d.fields[0]?.[0]), ['READY', 'STATUS', 'STOPPING', 'STATUS']);
  assert.equal(listener.with('STATUS', 'late').length, 0);
});

void test('the watchdog pings at half of WATCHDOG_USEC only while the health check says healthy', async (t) => {
  const listener = await notifyListener(t);
  const { log, records } = capture();
  const timers = manualTimers();
  const n = new SdNotifier({ log, timers, env: { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '2000000' } });
  t.after(() => n.close());
  assert.equal(n.watchdogMs, 2000);
  let health: Health = { healthy: true, status: '1/1 streams playing' };
  n.ready(health.status);
  n.startWatchdog(() => health);
  assert.equal(timers.period, 1000);

  timers.fire();
  timers.fire();
  await waitFor('two pings', () => (listener.with('WATCHDOG', '1').length === 2 ? true : undefined));
  // Status unchanged since READY: a ping alone.
  assert.equal(listener.with('WATCHDOG')[0]?.text, 'WATCHDOG=1');

  health = { healthy: false, status: 'unhealthy: 0/1 streams playing, 1 stalled (gate: no frame for 23 s)' };
  timers.fire();
  timers.fire();
  await waitFor('unhealthy status', () => listener.with('STATUS', health.status)[0]);
  await sendMarker(listener, n, 'marker-1');
  assert.equal(listener.with('WATCHDOG').length, 2, 'no ping while unhealthy');
  assert.equal(listener.with('STATUS', health.status).length, 1, 'an unchanged status is not repeated');
  assert.equal(records.filter((r) => r.level === 'error' && r.msg.startsWith('unhealthy')).length, 1, 'logged once');

  const mark = listener.received.length;
  health = { healthy: true, status: '1/1 streams playing' };
  timers.fire();
  await waitFor('ping again', () => listener.with('WATCHDOG', '1', mark)[0]);
  assert.equal(listener.with('WATCHDOG', '1', mark)[0]?.text, 'WATCHDOG=1\nSTATUS=1/1 streams playing');
  assert.ok(records.some((r) => r.msg === 'healthy again'));
  assert.equal(n.watchdogPings, 3);

  // A check that throws vouches for nothing.
  const before = listener.with('WATCHDOG').length;
  n.tick(() => { throw new Error('boom'); });
  await waitFor('failure status', () => listener.with('STATUS', 'health check failed: boom')[0]);
  assert.equal(listener.with('WATCHDOG').length, before);

  n.notifyStopping();
  assert.equal(timers.period, null, 'the loop ends at STOPPING');
});

void test('WATCHDOG_USEC and WATCHDOG_PID are honoured as sd_watchdog_enabled(3) describes', () => {
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42), 30_000);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 30_000);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '41' }, 42), null, 'meant for another process');
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 42), null);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '-5' }, 42), null);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '3e7' }, 42), null);
  assert.equal(watchdogIntervalMs({}, 42), null);
});

void test('a send that fails is logged once as a warning and never throws', async (t) => {
  const dir = await tempDir(t, 'vigil-notify-');
  const { log, records } = capture();
  const n = new SdNotifier({ log, env: { NOTIFY_SOCKET: path.join(dir, 'nobody-listens.sock') } });
  t.after(() => n.close());
  n.ready('a');
  n.status('b');
  n.status('c');
  await waitFor('three failures', () => (records.filter((r) => r.msg.startsWith('sd_notify send failed')).length === 3 ? true : undefined));
  const failures = records.filter((r) => r.msg.startsWith('sd_notify send failed'));
  assert.deepEqual(failures.map((r) => r.level), ['warn', 'debug', 'debug']);
  assert.match(String(failures[0]?.['err']), /send/);
});

void test('an abstract or non-path NOTIFY_SOCKET is reported once and otherwise ignored', () => {
  for (const socket of ['@/org/freedesktop/systemd1/notify', 'vsock:2:1234']) {
    const { log, records } = capture();
    const n = new SdNotifier({ log, env: { NOTIFY_SOCKET: socket, WATCHDOG_USEC: '1000000' } });
    assert.equal(n.enabled, false);
    assert.equal(n.watchdogMs, null);
    n.ready('x');
    n.notifyStopping();
    assert.equal(records.length, 1);
    assert.equal(records[0]?.level, 'warn');
    assert.equal(records[0]?.['notify_socket'], socket);
  }
});

void test('vigild under a NOTIFY_SOCKET: READY after start, periodic WATCHDOG while frames flow, STOPPING on SIGTERM, exit 0',
  { timeout: 60_000 }, async (t) => {
    const dir = await tempDir(t, 'vigil-e2e-notify-');
    const listener = await notifyListener(t);
    const config = await writeConfig(dir, {
      device: { id: 'pole-1', site: 'depot' },
      storage: { dir: path.join(dir, 'state') },
      // Nothing listens there: the uplink stays disconnected and events queue, as in an outage.
      mqtt: { url: 'mqtt://127.0.0.1:1' },
      streams: [{ id: 'yard', uri: 'test://ball?width=160&height=120&fps=10', fps: 5 }],
    });
    const vigild = spawnDaemon(t, ['--config', config], { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '2000000' });

    const ready = await waitFor('READY=1', () => listener.with('READY', '1')[0], 30_000);
    await vigild.waitForLine('vigild running', (l) => l.msg === 'vigild running');
    assert.match(field(ready, 'STATUS') ?? '', /^\d\/1 streams playing.*uplink disconnected, \d+ events? queued$/);
    const readyIndex = listener.received.indexOf(ready);
    assert.equal(readyIndex, 0, 'READY is the first thing systemd hears');

    // Pings every WatchdogSec/2 = 1 s while the test pattern delivers frames.
    await waitFor('4 watchdog pings', () => (listener.with('WATCHDOG', '1').length >= 4 ? true : undefined), 15_000);
    const pings = listener.with('WATCHDOG', '1');
    const gaps = pings.slice(1).map((p, i) => p.at - (pings[i]?.at ?? 0));
    t.diagnostic(`ping gaps ms: ${gaps.map((g) => g.toFixed(0)).join(', ')}`);
    for (const g of gaps) assert.ok(g > 600 && g < 1900, `ping gap ${g.toFixed(0)} ms (expected about 1000, always under WatchdogSec)`);
    const statuses = listener.with('STATUS').map((d) => field(d, 'STATUS'));
    // The ball moves: motion events are recorded and wait in the outbox for the absent broker.
    assert.ok(statuses.some((s) => /^1\/1 streams playing, uplink disconnected, \d+ events? queued$/.test(s ?? '')), statuses.join(' | '));
    assert.ok(vigild.lines.some((l) => l.msg === 'systemd watchdog enabled' && l['watchdog_ms'] === 2000));

    const exit = await vigild.stop('SIGTERM');
    assert.equal(exit.code, 0, vigild.stderr());
    const stopping = listener.with('STOPPING', '1');
    assert.equal(stopping.length, 1);
    const at = listener.received.indexOf(stopping[0] as (typeof listener.received)[number]);
    assert.equal(at, listener.received.length - 1, 'nothing after STOPPING');
    assert.deepEqual(vigild.badLines, []);
    assert.ok(!vigild.lines.some((l) => l.level === 'warn' && l['component'] === 'systemd'), 'no notify errors');
  });

void test('vigild without NOTIFY_SOCKET logs nothing about systemd', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-notify-');
  const config = await writeConfig(dir, {
    device: { id: 'pole-1', site: 'depot' },
    storage: { dir: path.join(dir, 'state') },
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    streams: [{ id: 'yard', uri: 'test://ball?width=160&height=120&fps=10', fps: 5 }],
  });
  // Empty, as when not started by systemd (and whatever the test runner's own environment says).
  const vigild = spawnDaemon(t, ['--config', config], { NOTIFY_SOCKET: '', WATCHDOG_USEC: '2000000' });
  await vigild.waitForLine('stream playing', (l) => l.msg === 'stream playing');
  const exit = await vigild.stop('SIGTERM');
  assert.equal(exit.code, 0, vigild.stderr());
  assert.deepEqual(vigild.lines.filter((l) => l['component'] === 'systemd'), []);
});
