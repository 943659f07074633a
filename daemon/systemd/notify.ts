/**
 * The sd_notify protocol (sd_notify(3)): newline-separated KEY=VALUE datagrams sent to the Unix
 * socket systemd names in NOTIFY_SOCKET. Modelled on zigbee2mqtt's lib/util/sd-notify.ts: READY,
 * STATUS, WATCHDOG, STOPPING, and nothing at all when NOTIFY_SOCKET is absent (a foreground run, a
 * test, `--demo`).
 *
 * The watchdog is not a heartbeat of the event loop: each ping is sent only if the health check the
 * app supplies says the daemon is doing its job. When it is not, pings stop and systemd restarts the
 * service after WatchdogSec. This module knows nothing about streams; see health.ts.
 */
import { createRequire } from 'node:module';
import type { UnixDgramError, UnixDgramSocket } from 'unix-dgram';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

export interface Health {
  readonly healthy: boolean;
  /** One line for `systemctl status` (STATUS=). */
  readonly status: string;
}

export type HealthCheck = () => Health;

/** Timers the watchdog loop runs on; injectable so that tests tick it by hand. */
export interface NotifyTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const realTimers: NotifyTimers = {
  setInterval: (fn, ms) => {
    const t = setInterval(fn, ms);
    // The loop must never be what keeps a stopping daemon alive.
    t.unref();
    return t;
  },
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

export interface SdNotifierOptions {
  readonly log: Logger;
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read; process.env by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** This process's pid, compared with WATCHDOG_PID. */
  readonly pid?: number;
  readonly timers?: NotifyTimers;
  /** How often STATUS is refreshed when systemd asked for no watchdog. */
  readonly statusIntervalMs?: number;
}

type Target =
  | { readonly kind: 'none' }
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'unsupported'; readonly reason: string };

function targetFrom(socket: string | undefined): Target {
  if (socket === undefined || socket === '') return { kind: 'none' };
  if (socket.startsWith('/')) return { kind: 'path', path: socket };
  if (socket.startsWith('@')) {
    // unix-dgram 2.0.7 copies the address with strncpy, which stops at the leading NUL of an
    // abstract name, and passes sizeof(sockaddr_un) as its length: the datagram would go to a
    // different (all-NUL) abstract address. Measured: sending to "\0name" fails with ECONNREFUSED
    // while a socket bound to that name listens. systemd itself hands services a path socket.
    return { kind: 'unsupported', reason: 'abstract sockets cannot be addressed through unix-dgram' };
  }
  return { kind: 'unsupported', reason: 'only absolute paths are supported (no vsock, no relative path)' };
}

/**
 * The watchdog period systemd asks for, or null when it asks for none or asks another process
 * (WATCHDOG_PID set to a pid other than ours, as after a fork).
 */
export function watchdogIntervalMs(env: Readonly<Record<string, string | undefined>>, pid: number): number | null {
  const usec = env['WATCHDOG_USEC'];
  if (usec === undefined || !/^\d+$/.test(usec)) return null;
  const ms = Number(usec) / 1000;
  if (!(ms > 0) || !Number.isFinite(ms)) return null;
  const forPid = env['WATCHDOG_PID'];
  if (forPid !== undefined && forPid !== '' && forPid !== String(pid)) return null;
  return ms;
}

/** STATUS= ends at a newline; a newline inside the text would start a bogus assignment. */
const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');

/**
 * Talks to systemd. Every method is safe to call in any state and never throws: a daemon must not
 * fail because its supervisor cannot be told something. The first send error is logged as a
 * warning, later ones at debug, so a broken socket cannot flood the journal.
 */
export class SdNotifier {
  /** Ping period is half of this (sd_watchdog_enabled(3) recommends pinging at half the timeout). */
  readonly watchdogMs: number | null;
  private readonly target: Target;
  private readonly log: Logger;
  private readonly timers: NotifyTimers;
  private readonly statusIntervalMs: number;
  private socket: UnixDgramSocket | null = null;
  private broken = false;
  private sendErrors = 0;
  private loop: unknown = null;
  private lastStatus: string | null = null;
  private unhealthy = false;
  private stopping = false;
  private pings = 0;

  constructor(opts: SdNotifierOptions) {
    const env = opts.env ?? process.env;
    this.log = opts.log;
    this.timers = opts.timers ?? realTimers;
    this.statusIntervalMs = opts.statusIntervalMs ?? 30_000;
    this.target = targetFrom(env['NOTIFY_SOCKET']);
    this.watchdogMs = this.target.kind === 'path' ? watchdogIntervalMs(env, opts.pid ?? process.pid) : null;
    if (this.target.kind === 'unsupported') {
      this.log.warn({ notify_socket: env['NOTIFY_SOCKET'], reason: this.target.reason },
        'NOTIFY_SOCKET not usable: systemd will not hear READY or watchdog pings');
    }
  }

  /** Whether anything is sent at all. */
  get enabled(): boolean {
    return this.target.kind === 'path' && !this.broken;
  }

  /** WATCHDOG=1 datagrams sent so far (for tests and the log). */
  get watchdogPings(): number {
    return this.pings;
  }

  /** Start-up is complete: systemd moves the unit to "active" and arms the watchdog. */
  ready(status: string): void {
    if (this.stopping) return;
    this.lastStatus = oneLine(status);
    this.send(`READY=1\nSTATUS=${this.lastStatus}`);
  }

  /** A reload has begun (SIGHUP); ready() ends it. Informational under Type=notify, awaited under Type=notify-reload. */
  reloading(): void {
    if (this.stopping) return;
    const usec = process.hrtime.bigint() / 1000n;
    this.send(`RELOADING=1\nMONOTONIC_USEC=${usec}`);
  }

  /** Sends STATUS= when the text changed. */
  status(text: string): void {
    const line = oneLine(text);
    if (line === this.lastStatus) return;
    this.lastStatus = line;
    this.send(`STATUS=${line}`);
  }

  /**
   * Runs the health check every half watchdog period and pings only while it says healthy. With no
   * watchdog requested, it still refreshes STATUS every `statusIntervalMs`.
   */
  startWatchdog(check: HealthCheck): void {
    if (!this.enabled || this.stopping || this.loop !== null) return;
    const period = this.watchdogMs !== null ? Math.max(1, Math.floor(this.watchdogMs / 2)) : this.statusIntervalMs;
    this.loop = this.timers.setInterval(() => this.tick(check), period);
    if (this.watchdogMs !== null) {
      this.log.info({ watchdog_ms: this.watchdogMs, ping_every_ms: period }, 'systemd watchdog enabled');
    }
  }

  /** One round of the loop; public so a caller can force one (e.g. right after READY). */
  tick(check: HealthCheck): void {
    if (!this.enabled || this.stopping) return;
    let health: Health;
    try {
      health = check();
    } catch (err) {
      // A check that throws cannot vouch for anything; treat it as unhealthy and say why.
      health = { healthy: false, status: `health check failed: ${errorMessage(err)}` };
    }
    if (health.healthy !== !this.unhealthy) {
      this.unhealthy = !health.healthy;
      if (this.unhealthy) {
        this.log.error({ status: health.status, watchdog: this.watchdogMs !== null },
          this.watchdogMs !== null ? 'unhealthy: withholding watchdog pings so systemd restarts vigild' : 'unhealthy');
      } else {
        this.log.info({ status: health.status }, 'healthy again');
      }
    }
    const line = oneLine(health.status);
    const parts: string[] = [];
    if (this.watchdogMs !== null && health.healthy) parts.push('WATCHDOG=1');
    if (line !== this.lastStatus) parts.push(`STATUS=${line}`);
    if (parts.length === 0) return;
    this.lastStatus = line;
    if (this.watchdogMs !== null && health.healthy) this.pings++;
    this.send(parts.join('\n'));
  }

  stopWatchdog(): void {
    if (this.loop === null) return;
    this.timers.clearInterval(this.loop);
    this.loop = null;
  }

  /**
   * Shutdown has begun: systemd stops expecting pings and shows the unit as deactivating. Anything
   * sent after this (a late READY from a start that was still running) is dropped.
   */
  notifyStopping(status = 'stopping'): void {
    if (this.stopping) return;
    this.stopWatchdog();
    this.send(`STOPPING=1\nSTATUS=${oneLine(status)}`);
    this.stopping = true;
  }

  /** Releases the socket; safe to call twice. */
  close(): void {
    this.stopWatchdog();
    const socket = this.socket;
    this.socket = null;
    if (socket === null) return;
    try {
      socket.close();
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'closing the notify socket failed');
    }
  }

  private send(message: string): void {
    if (this.target.kind !== 'path' || this.broken || this.stopping) return;
    const socket = this.open();
    if (socket === null) return;
    const buf = Buffer.from(message, 'utf8');
    try {
      socket.send(buf, 0, buf.length, this.target.path, (err?: UnixDgramError) => {
        if (err !== undefined) this.sendFailed(err, message);
      });
    } catch (err) {
      this.sendFailed(err, message);
    }
  }

  private sendFailed(err: unknown, message: string): void {
    this.sendErrors++;
    const fields = { err: errorMessage(err), notify_socket: this.target.kind === 'path' ? this.target.path : null,
      message: message.split('\n')[0], errors: this.sendErrors };
    if (this.sendErrors === 1) this.log.warn(fields, 'sd_notify send failed (further failures logged at debug)');
    else this.log.debug(fields, 'sd_notify send failed');
  }

  /**
   * Loaded on first use: without NOTIFY_SOCKET the native addon is never touched, and if it cannot
   * load (a platform without a build of it) the daemon runs on, unsupervised, with one log line.
   */
  private open(): UnixDgramSocket | null {
    if (this.socket !== null) return this.socket;
    try {
      const require = createRequire(import.meta.url);
      const dgram = require('unix-dgram') as typeof import('unix-dgram');
      const socket = dgram.createSocket('unix_dgram');
      // Errors without a callback are emitted; an unhandled 'error' event would crash the process.
      socket.on('error', (err) => this.sendFailed(err, '(socket)'));
      this.socket = socket;
      return socket;
    } catch (err) {
      this.broken = true;
      this.log.warn({ err: errorMessage(err) }, 'sd_notify unavailable: cannot create a Unix datagram socket');
      return null;
    }
  }
}
