import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { Service } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { OutboxMessage } from '../store/types.js';
import { severityPriority, type DeviceIdentity } from '../uplink/alert-message.js';
import type { TelemetryPayload } from '../uplink/payloads.js';
import { uplinkTopics } from '../uplink/topics.js';
import { MetricsServer, PrometheusMetrics } from './prometheus.js';
import { AnalysedRate, buildTelemetry, type TelemetryStatus } from './snapshot.js';
import { SystemSampler } from './system-sampler.js';

export type TelemetryConfig = Config['telemetry'];

/** Below every event, info included: a report must never delay one. */
export const TELEMETRY_PRIORITY = severityPriority.info + 1;

/**
 * Reports kept in the outbox while the broker is away; older ones are dropped as new ones are queued.
 * A day at the default interval, about 2-3 MB: enough for the hub to see how an outage went, without
 * letting reports grow into the event budget over a month-long one.
 */
export const MAX_QUEUED_REPORTS = 1440;

/** The store's non-event queue; `EventStore` satisfies it. */
export interface TelemetryOutbox {
  enqueue(message: OutboxMessage, keepLatest?: number): number;
}

export interface TelemetryOptions {
  config: TelemetryConfig;
  device: DeviceIdentity;
  /** `() => app.status()`: telemetry reads the app only through its status. */
  status: () => TelemetryStatus;
  /** The event store's outbox, which wakes the uplink itself when a report is queued (EventStore.onEnqueued). */
  outbox: TelemetryOutbox;
  /** The state directory, whose filesystem's free space is reported. */
  diskPath: string;
  log: Logger;
  sampler?: SystemSampler;
  now?: () => number;
  /** How often system values are read and analysed counters observed; default min(interval, 5 s). */
  sampleEveryMs?: number;
}

/**
 * Health telemetry: every `interval_s` a `vigil.telemetry/1` report into the outbox (lowest
 * priority), and on demand a Prometheus scrape. Both are built from `status()` (counters, cheap) and
 * the system sampler's cached values, which are refreshed on their own timer: nothing here waits on
 * systeminformation while a report or a scrape is built, and nothing touches the frame path.
 */
export class TelemetryService implements Service {
  readonly name = 'telemetry';
  private readonly log: Logger;
  private readonly sampler: SystemSampler;
  private readonly rate = new AnalysedRate();
  private readonly metrics = new PrometheusMetrics();
  private readonly server: MetricsServer;
  private readonly topic: string;
  private readonly now: () => number;
  private startedAt = 0;
  private sampleTimer: NodeJS.Timeout | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private reportsQueued = 0;
  private failing = false;
  private latestReport: TelemetryPayload | null = null;
  private address: AddressInfo | null = null;

  constructor(private readonly opts: TelemetryOptions) {
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.sampler = opts.sampler ?? new SystemSampler({ diskPath: opts.diskPath, log: opts.log });
    this.topic = uplinkTopics(opts.device.site, opts.device.id).telemetry;
    this.server = new MetricsServer(this.metrics, () => this.metrics.update(this.build(),
      { reportsQueued: this.reportsQueued, storageHealth: this.opts.status().storage?.health ?? null }), this.log);
  }

  /** The registry behind /metrics, for metrics kept elsewhere (the response-tier histograms). */
  get registry(): PrometheusMetrics['registry'] {
    return this.metrics.registry;
  }

  /** The newest report queued, for `vigilctl status`; null before the first. */
  get latest(): TelemetryPayload | null {
    return this.latestReport;
  }

  /** A report built now and not queued: the console's health history samples it (daemon/console/telemetry-history.ts). */
  snapshot(): TelemetryPayload {
    return this.build();
  }

  /** Where /metrics listens (the port is known only after listening when the config says 0); null when off or unavailable. */
  get metricsAddress(): AddressInfo | null {
    return this.address;
  }

  async start(signal: AbortSignal): Promise<void> {
    this.startedAt = this.now();
    // The first sample also primes the CPU counters, so that the first report has a load to show.
    this.observe();
    await this.sampler.refresh();
    signal.throwIfAborted();
    const { prometheus, interval_s: intervalS } = this.opts.config;
    if (prometheus.enabled) {
      try {
        this.address = await this.server.listen(prometheus.listen);
        this.log.info({ listen: `${this.address.address}:${this.address.port}` }, 'Prometheus metrics at /metrics');
      } catch (err) {
        // Metrics are for the operator; the video and the hub report do not depend on them.
        this.log.warn({ listen: prometheus.listen, err: errorMessage(err) }, 'Prometheus endpoint unavailable: no /metrics on this device');
      }
    }
    signal.throwIfAborted();
    const intervalMs = intervalS * 1000;
    this.sampleTimer = setInterval(() => this.sampleTick(), this.opts.sampleEveryMs ?? Math.min(intervalMs, 5000));
    this.sampleTimer.unref();
    this.reportTimer = setInterval(() => this.report(), intervalMs);
    this.reportTimer.unref();
  }

  /** Builds and queues one report now; returns it, or null when it could not be queued (logged). */
  report(): TelemetryPayload | null {
    try {
      const payload = this.build();
      this.opts.outbox.enqueue({ topic: this.topic, payload: JSON.stringify(payload), qos: 1, priority: TELEMETRY_PRIORITY },
        MAX_QUEUED_REPORTS);
      this.reportsQueued += 1;
      this.latestReport = payload;
      if (this.failing || this.reportsQueued === 1) this.log.info({ topic: this.topic }, 'telemetry report queued');
      this.failing = false;
      return payload;
    } catch (err) {
      // One line per failing streak: a store that cannot write is reported by its own errors.
      if (!this.failing) this.log.warn({ err: errorMessage(err) }, 'telemetry report could not be queued');
      this.failing = true;
      return null;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.sampleTimer);
    clearInterval(this.reportTimer);
    this.sampleTimer = undefined;
    this.reportTimer = undefined;
    this.address = null;
    await this.server.close();
  }

  private build(): TelemetryPayload {
    return buildTelemetry({
      status: this.opts.status(), system: this.sampler.latest(), rate: this.rate, now: this.now(),
      startedAt: this.startedAt, intervalS: this.opts.config.interval_s, diskPath: this.opts.diskPath,
    });
  }

  private sampleTick(): void {
    try {
      this.observe();
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'telemetry: cannot read the daemon status');
    }
    // The sampler logs its own failures and never rejects; the catch only keeps a bug from escaping.
    this.sampler.refresh().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'telemetry: system sample failed'));
  }

  private observe(): void {
    const at = this.now();
    for (const s of this.opts.status().streams) this.rate.observe(s.id, s.analysis.framesAnalysed, at);
  }
}
