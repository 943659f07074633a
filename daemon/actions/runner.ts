import { fork, type ChildProcess } from 'node:child_process';
import type { ActionRule, ActionsConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { DeviceIdentity } from '../uplink/alert-message.js';
import { ActionDispatcher, type ActionStats } from './dispatcher.js';
import type { ActionEvent } from './local-event.js';
import type { RunnerReply, RunnerRequest } from './runner-messages.js';

export interface ActionRunnerOptions {
  config: ActionsConfig;
  device: DeviceIdentity;
  log: Logger;
  /** As ActionDispatcher's: the event's last action done, with the runner's wall-clock time. */
  onDone?: (eventId: string, doneAt: number, ok: boolean) => void;
  /** The runner's script; tests may point elsewhere. */
  script?: URL;
}

/**
 * Tier 1 out of vigild's way: the local actions run in a small process of their own, and vigild
 * only writes one IPC message per acted-on event, from the event sink, at once (no wait for the
 * next turn of a busy event loop). Two reasons, both measured on the development VM:
 *
 *  - fork() copies the caller's page tables: a hook spawned from vigild (a model and pipelines
 *    loaded, about 470 MB) blocked its event loop 50-150 ms under load, against 7 ms from a 50 MB
 *    process;
 *  - vigild's event loop stalls for whole frames under CPU pressure (preprocessing, NMS, SQLite
 *    commits run on it): an action scheduled there waits for them, one in its own process does not.
 *
 * If the runner cannot start, or dies, actions run in-process until it is started again with the
 * next event (logged). Its logs go to the same stdout (journald) with `component: "actions"`.
 */
export class ActionRunner {
  private helper: ChildProcess | null = null;
  private fallback: ActionDispatcher | null = null;
  private stopped = false;
  /** Events sent and not yet done: lost (counted failed) if the runner dies. */
  private readonly pending = new Set<string>();
  private remote: ActionStats = { events: 0, started: 0, failed: 0, dropped: 0 };
  private lost = 0;
  private readonly script: URL;

  constructor(private readonly opts: ActionRunnerOptions) {
    this.script = opts.script ?? new URL('./runner-process.js', import.meta.url);
  }

  /** Starts the runner now when any action is configured, so that the first event does not wait for it. */
  start(): void {
    if (this.opts.config.on.length > 0) this.ensure();
  }

  matching(e: Pick<ActionEvent, 'severity' | 'ruleId'>): ActionRule[] {
    return this.opts.config.on.filter((r) => r.severities.includes(e.severity) && (r.rules === undefined || r.rules.includes(e.ruleId)));
  }

  /** Never throws, never waits: one IPC write for an event that has actions, nothing for one that has none. */
  fire(e: ActionEvent): void {
    if (this.stopped || this.matching(e).length === 0) return;
    const helper = this.ensure();
    if (!helper) {
      this.inProcess().fire(e);
      return;
    }
    this.pending.add(e.eventId);
    this.keepAlive(helper);
    const message: RunnerRequest = { type: 'fire', event: e };
    helper.send(message, (err) => {
      if (!err) return;
      this.pending.delete(e.eventId);
      this.lost += 1;
      this.opts.log.warn({ event: e.eventId, err: errorMessage(err) }, 'cannot hand the event to the action runner');
    });
  }

  get stats(): ActionStats {
    const local = this.fallback?.stats ?? { events: 0, started: 0, failed: 0, dropped: 0 };
    return {
      events: this.remote.events + local.events, started: this.remote.started + local.started,
      failed: this.remote.failed + local.failed + this.lost, dropped: this.remote.dropped + local.dropped,
    };
  }

  /** The runner's pid, or null when it is not running (actions then run in vigild). */
  get pid(): number | null {
    return this.helper?.pid ?? null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const helper = this.helper;
    this.helper = null;
    await this.fallback?.stop();
    if (!helper || helper.exitCode !== null || helper.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => helper.once('exit', () => resolve()));
    helper.ref();
    // It finishes its publishes and exits; hooks still running finish on their own.
    helper.disconnect();
    const timer = setTimeout(() => helper.kill('SIGKILL'), 1500);
    await gone;
    clearTimeout(timer);
  }

  private inProcess(): ActionDispatcher {
    this.fallback ??= (() => {
      const d = new ActionDispatcher({ config: this.opts.config, device: this.opts.device, log: this.opts.log,
        ...(this.opts.onDone ? { onDone: this.opts.onDone } : {}) });
      d.start();
      return d;
    })();
    return this.fallback;
  }

  private ensure(): ChildProcess | null {
    if (this.stopped) return null;
    if (this.helper) return this.helper;
    let helper: ChildProcess;
    try {
      helper = fork(this.script, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    } catch (err) {
      this.opts.log.warn({ err: errorMessage(err) }, 'cannot start the action runner: local actions run inside vigild');
      return null;
    }
    this.helper = helper;
    this.keepAlive(helper);
    helper.on('message', (m: RunnerReply) => this.reply(m));
    helper.on('error', (err) => this.opts.log.warn({ err: errorMessage(err) }, 'action runner error'));
    helper.once('exit', (code, signal) => {
      if (this.helper === helper) this.helper = null;
      this.lost += this.pending.size;
      this.pending.clear();
      if (!this.stopped) this.opts.log.warn({ code, signal }, 'the action runner exited; a new one starts with the next event');
    });
    const init: RunnerRequest = { type: 'init', config: this.opts.config, device: this.opts.device, logLevel: this.opts.log.level };
    helper.send(init);
    return helper;
  }

  /** An idle runner does not keep vigild's event loop alive; one with events to report on does. */
  private keepAlive(helper: ChildProcess): void {
    const channel = helper.channel as { ref?: () => void; unref?: () => void } | undefined;
    if (this.pending.size > 0) {
      helper.ref();
      channel?.ref?.();
    } else {
      helper.unref();
      channel?.unref?.();
    }
  }

  private reply(m: RunnerReply): void {
    switch (m.type) {
      case 'stats':
        this.remote = m.stats;
        return;
      case 'done':
        this.remote = m.stats;
        this.pending.delete(m.eventId);
        if (this.helper) this.keepAlive(this.helper);
        try {
          this.opts.onDone?.(m.eventId, m.at, m.ok);
        } catch (err) {
          this.opts.log.warn({ event: m.eventId, err: errorMessage(err) }, 'local action listener failed');
        }
    }
  }
}
