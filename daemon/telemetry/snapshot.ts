import { v7 as uuidv7 } from 'uuid';
import type { OutboxPriorityStats, StorageHealth } from '../store/types.js';
import { telemetrySchema, type TelemetryPayload } from '../uplink/payloads.js';
import type { Percentiles } from '../util/sample-ring.js';
import { loadAverage, processMemory, type SystemSample } from './system-sampler.js';

/** The part of `App.status()` that telemetry reads; `AppStatus` satisfies it. */
export interface TelemetryStatus {
  version: string;
  device: { id: string; site: string };
  streams: readonly {
    id: string;
    state: string;
    model: string | null;
    fps: number;
    framesPulled: number;
    framesDropped: number;
    restarts: number;
    lastError: string | null;
    lastFrameAt?: number;
    analysis: { framesAnalysed: number };
    latency: { inferenceMs: Percentiles | null; endToEndMs: Percentiles | null };
  }[];
  uplink: {
    connected: boolean; disconnects: number; published: number; acked: number; failures: number;
    outboxDepth: number; oldestAgeMs: number | null; outbox: OutboxPriorityStats[]; lastError: string | null;
  } | null;
  storage: { usedBytes: number; budgetBytes: number | null; events: number; health?: StorageHealth } | null;
}

/**
 * Analysed frames per second per stream, from the analysed counter observed over a sliding window.
 * The counter, not a per-frame timestamp, so that reading it costs the frame path nothing; a window
 * rather than the time since the last report, so that a Prometheus scrape and the MQTT report,
 * which read at different moments, agree.
 */
export class AnalysedRate {
  private readonly history = new Map<string, { at: number; n: number }[]>();

  constructor(private readonly windowMs = 10_000) {}

  observe(stream: string, frames: number, at: number): void {
    const h = this.history.get(stream) ?? [];
    h.push({ at, n: frames });
    // Keep one observation older than the window, so that the rate always spans a whole window.
    while (h.length > 2 && (h[1]?.at ?? at) <= at - this.windowMs) h.shift();
    this.history.set(stream, h);
  }

  /** null until the observations span half a second: a rate over less than that is mostly noise. */
  rate(stream: string, frames: number, at: number): number | null {
    const first = this.history.get(stream)?.[0];
    if (!first || at - first.at < 500 || frames < first.n) return null;
    return ((frames - first.n) * 1000) / (at - first.at);
  }
}

export interface TelemetryInput {
  status: TelemetryStatus;
  system: SystemSample | null;
  rate: AnalysedRate;
  now: number;
  startedAt: number;
  intervalS: number;
  diskPath: string;
}

const seconds = (ms: number): number => round(ms / 1000, 3);

function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

const roundPercentiles = (p: Percentiles | null): Percentiles | null =>
  p && { p50: round(p.p50), p95: round(p.p95), samples: p.samples };

/**
 * One `vigil.telemetry/1` report. Parsed before it is queued, as alerts are: a NaN or a negative
 * count is a bug here, and must not reach the hub as a valid-looking report.
 */
export function buildTelemetry({ status, system, rate, now, startedAt, intervalS, diskPath }: TelemetryInput): TelemetryPayload {
  const mem = processMemory();
  const temps = system?.temperatures ?? [];
  const uplink = status.uplink;
  return telemetrySchema.parse({
    schema: 'vigil.telemetry/1',
    id: uuidv7(),
    device: status.device.id,
    site: status.device.site,
    version: status.version,
    ts: new Date(now).toISOString(),
    interval_s: intervalS,
    uptime_s: seconds(Math.max(0, now - startedAt)),
    streams: status.streams.map((s) => {
      const analysed = rate.rate(s.id, s.analysis.framesAnalysed, now);
      return {
        id: s.id,
        state: s.state,
        model: s.model,
        analysed_fps: analysed === null ? null : round(analysed),
        pulled_fps: round(Math.max(0, s.fps)),
        frames_pulled: s.framesPulled,
        frames_dropped: s.framesDropped,
        frames_analysed: s.analysis.framesAnalysed,
        restarts: s.restarts,
        inference_ms: roundPercentiles(s.latency.inferenceMs),
        end_to_end_ms: roundPercentiles(s.latency.endToEndMs),
        last_frame_age_s: s.lastFrameAt === undefined ? null : seconds(Math.max(0, now - s.lastFrameAt)),
        last_error: s.lastError,
      };
    }),
    pipeline_restarts: status.streams.reduce((n, s) => n + s.restarts, 0),
    system: {
      cpu_load_percent: system?.cpuLoadPercent === null || system === null ? null : round(system.cpuLoadPercent),
      process_cpu_percent: system?.processCpuPercent === null || system === null ? null : round(system.processCpuPercent),
      load_avg: loadAverage().map((v) => round(v)),
      memory: {
        rss_bytes: mem.rssBytes,
        heap_used_bytes: mem.heapUsedBytes,
        heap_total_bytes: mem.heapTotalBytes,
        system_used_bytes: system?.memory.usedBytes ?? null,
        system_total_bytes: system?.memory.totalBytes ?? null,
      },
      temperature_celsius: temps.length > 0 ? round(Math.max(...temps.map((t) => t.celsius)), 1) : null,
      temperatures: temps.map((t) => ({ sensor: t.sensor, celsius: round(t.celsius, 1) })),
      disk: { path: diskPath, free_bytes: system?.disk.freeBytes ?? null, total_bytes: system?.disk.totalBytes ?? null },
      gpu_load_percent: system?.gpu ? round(system.gpu.loadPercent, 1) : null,
      emc_load_percent: system?.emc ? round(system.emc.loadPercent, 1) : null,
      power_rails: (system?.powerRails ?? []).map((r) => ({ rail: r.rail, power_mw: r.powerMw, voltage_mv: r.voltageMv, current_ma: r.currentMa })),
      sample_age_s: system ? seconds(Math.max(0, now - system.at)) : null,
    },
    outbox: {
      depth: uplink?.outboxDepth ?? -1,
      oldest_age_s: uplink?.oldestAgeMs === null || uplink === null ? null : seconds(uplink.oldestAgeMs),
      by_priority: (uplink?.outbox ?? []).map((p) => ({ priority: p.priority, depth: p.depth, oldest_age_s: seconds(p.oldestAgeMs) })),
    },
    uplink: uplink && {
      connected: uplink.connected,
      disconnects: uplink.disconnects,
      published: uplink.published,
      acked: uplink.acked,
      failures: uplink.failures,
      last_error: uplink.lastError,
    },
    storage: status.storage && {
      db_bytes: status.storage.usedBytes,
      budget_bytes: status.storage.budgetBytes,
      events: status.storage.events,
    },
  });
}
