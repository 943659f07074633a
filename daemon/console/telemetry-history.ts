import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { TelemetryPayload } from '../uplink/payloads.js';
import type { TelemetrySample } from './telemetry-sample.js';

/** A day of samples, once a minute. */
export const HISTORY_SAMPLES = 1440;

export function toSample(t: TelemetryPayload, ts: number): TelemetrySample {
  const nums = (xs: (number | null | undefined)[]): number[] => xs.filter((x): x is number => typeof x === 'number');
  const fps = nums(t.streams.map((s) => s.analysed_fps));
  const inference = nums(t.streams.map((s) => s.inference_ms?.p50));
  const e2e = nums(t.streams.map((s) => s.end_to_end_ms?.p95));
  const sys = t.system;
  return {
    ts,
    fps: fps.length > 0 ? round(fps.reduce((a, b) => a + b, 0)) : null,
    inference_ms: inference.length > 0 ? Math.max(...inference) : null,
    e2e_ms: e2e.length > 0 ? Math.max(...e2e) : null,
    cpu: sys.cpu_load_percent,
    gpu: sys.gpu_load_percent,
    mem: sys.memory.system_used_bytes,
    rss: sys.memory.rss_bytes,
    temp: sys.temperature_celsius,
    power: sys.power_rails.length > 0 ? sys.power_rails.reduce((a, r) => a + r.power_mw, 0) : null,
    outbox: t.outbox.depth,
    disk_free: sys.disk.free_bytes,
    streams: Object.fromEntries(t.streams.map((s) => [s.id, {
      fps: s.analysed_fps, inference_ms: s.inference_ms?.p50 ?? null, e2e_ms: s.end_to_end_ms?.p95 ?? null,
    }])),
  };
}

const round = (v: number): number => Math.round(v * 100) / 100;

/**
 * The last 24 h of health, kept in memory by the console (lost at restart): one sample a minute from
 * the report the telemetry service builds anyway (counters and cached system values, nothing read
 * from the frame path). Bounded: a ring of HISTORY_SAMPLES, about 0.5 MB with a few streams.
 */
export class TelemetryHistory {
  private readonly samples: TelemetrySample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly source: () => TelemetryPayload | null, private readonly log: Logger,
    private readonly everyMs = 60_000, private readonly now: () => number = Date.now) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Samples of the last `hours`, oldest first. */
  since(hours: number): TelemetrySample[] {
    const from = this.now() - hours * 3_600_000;
    return this.samples.filter((s) => s.ts >= from);
  }

  sample(): void {
    try {
      const t = this.source();
      if (t === null) return;
      this.samples.push(toSample(t, this.now()));
      if (this.samples.length > HISTORY_SAMPLES) this.samples.splice(0, this.samples.length - HISTORY_SAMPLES);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'console: cannot sample telemetry');
    }
  }
}
