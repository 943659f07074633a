import type { ActionRule, ActionsConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { wallClock } from '../util/clock.js';
import type { DeviceIdentity } from '../uplink/alert-message.js';
import { gpiosetArgs } from './gpio.js';
import { hookEnv, localEvent, localTopic, type ActionEvent } from './local-event.js';
import { DirectLauncher, type ProgramLauncher } from './launcher.js';
import { LocalPublisher } from './local-publisher.js';

export interface ActionStats {
  /** Events that matched at least one action rule. */
  events: number;
  /** Actions started (a publish, a hook, a gpioset). */
  started: number;
  /** Actions that failed: not published, not started, a non-zero exit or a timeout. */
  failed: number;
  /** Actions not started because `max_running` children were already running. */
  dropped: number;
}

export interface ActionDispatcherOptions {
  config: ActionsConfig;
  device: DeviceIdentity;
  log: Logger;
  /**
   * Called once per acted-on event when its last action is done: published (PUBACK from the local
   * broker at QoS 1) or, for a hook or gpioset, started (exec succeeded). `ok` is false when any of
   * them failed to get that far. Wall-clock ms (util/clock.ts).
   */
  onDone?: (eventId: string, doneAt: number, ok: boolean) => void;
  /** How hooks and gpioset are started; default: spawned from this process. */
  launcher?: ProgramLauncher;
}

/**
 * Tier 1: local actions for an event, chosen by severity and rule. `fire` only matches rules and
 * schedules the work for the next turn of the event loop, so its caller never waits for a broker or
 * a fork; every failure is logged and counted here and never reaches the caller. In vigild it runs
 * in a process of its own (runner.ts), away from the frame path's event loop and memory.
 */
export class ActionDispatcher {
  readonly stats: ActionStats = { events: 0, started: 0, failed: 0, dropped: 0 };
  private readonly publisher: LocalPublisher | null;
  private running = 0;
  private stopped = false;
  private readonly launcher: ProgramLauncher;

  constructor(private readonly opts: ActionDispatcherOptions) {
    const mqtt = opts.config.mqtt;
    this.publisher = mqtt ? new LocalPublisher(mqtt, `vigil-local-${opts.device.site}-${opts.device.id}`, opts.log) : null;
    this.launcher = opts.launcher ?? new DirectLauncher();
  }

  start(): void {
    this.publisher?.start();
  }

  /** The action rules an event of this severity and rule triggers. */
  matching(e: Pick<ActionEvent, 'severity' | 'ruleId'>): ActionRule[] {
    return this.opts.config.on.filter((r) => r.severities.includes(e.severity) && (r.rules === undefined || r.rules.includes(e.ruleId)));
  }

  /** Never throws and never waits: the actions run from the next turn of the event loop. */
  fire(e: ActionEvent): void {
    if (this.stopped) return;
    const rules = this.matching(e);
    if (rules.length === 0) return;
    this.stats.events += 1;
    setImmediate(() => {
      try {
        this.run(e, rules);
      } catch (err) {
        this.stats.failed += 1;
        this.opts.log.error({ event: e.eventId, err: errorMessage(err) }, 'local actions failed');
      }
    });
  }

  private run(e: ActionEvent, rules: readonly ActionRule[]): void {
    const { config, device, log } = this.opts;
    const pending: Promise<boolean>[] = [];
    for (const rule of rules) {
      if (rule.mqtt !== false && this.publisher && config.mqtt) {
        const topic = localTopic(rule.mqtt === true ? config.mqtt.topic : rule.mqtt.topic, device, e);
        this.stats.started += 1;
        pending.push(this.publisher.publish(topic, JSON.stringify(localEvent(device, e))).then(() => true, (err: unknown) => {
          this.fail(e, 'local publish', topic, err);
          return false;
        }));
      }
      if (rule.command) {
        const [file, ...args] = rule.command as [string, ...string[]];
        pending.push(this.spawnChild('hook', file, args, rule.command_timeout_ms, e, hookEnv(device, e)));
      }
      if (rule.gpio) {
        // gpioset exits by itself after hold_ms; the timeout only catches one that hangs.
        pending.push(this.spawnChild('gpio', config.gpioset, gpiosetArgs(rule.gpio, config.gpioset_syntax),
          rule.gpio.hold_ms + 5000, e, {}));
      }
    }
    void Promise.all(pending).then((oks) => {
      log.debug({ event: e.eventId, actions: oks.length, ok: oks.every(Boolean) }, 'local actions done');
      try {
        this.opts.onDone?.(e.eventId, wallClock(), oks.every(Boolean));
      } catch (err) {
        log.warn({ event: e.eventId, err: errorMessage(err) }, 'local action listener failed');
      }
    });
  }

  /**
   * Resolves true once the program has started (exec succeeded): that is when a hook or a GPIO
   * line is under way. How it ends is logged and counted afterwards.
   */
  private spawnChild(what: 'hook' | 'gpio', file: string, args: string[], timeoutMs: number, e: ActionEvent,
    env: Record<string, string>): Promise<boolean> {
    if (this.running >= this.opts.config.max_running) {
      this.stats.dropped += 1;
      this.opts.log.warn({ event: e.eventId, action: what, running: this.running }, 'too many local actions running: this one is skipped');
      return Promise.resolve(false);
    }
    this.stats.started += 1;
    this.running += 1;
    let released = false;
    const release = (): void => {
      if (!released) this.running -= 1;
      released = true;
    };
    return new Promise((resolve) => {
      let started = false;
      this.launcher.launch({ file, args, env, timeoutMs }, {
        spawn: () => {
          started = true;
          resolve(true);
        },
        error: (err) => {
          // A program that never started gets no exit.
          if (!started) release();
          this.fail(e, what, file, err);
          resolve(false);
        },
        exit: (code, signal, stderr) => {
          release();
          if (code === 0) return;
          this.fail(e, what, file, new Error(signal !== null ? `killed by ${signal} (timeout ${timeoutMs} ms?)` : `exit status ${code}${stderr ? `: ${stderr.trim()}` : ''}`));
        },
      });
    });
  }

  private fail(e: ActionEvent, what: string, target: string, err: unknown): void {
    this.stats.failed += 1;
    this.opts.log.warn({ event: e.eventId, action: what, target, err: errorMessage(err) }, 'local action failed');
  }

  /** Stops taking events; hooks still running are left to finish (or to their timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([this.publisher?.stop(), this.launcher.stop()]);
  }

  get runningChildren(): number {
    return this.running;
  }
}
