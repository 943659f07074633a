import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Percentiles } from '../util/sample-ring.js';
import type { TelemetryPayload } from '../uplink/payloads.js';
import type { StorageHealth } from '../store/types.js';

/** Every stream state, so that `vigil_stream_state` is a complete enum metric (one series at 1, the others 0). */
const STREAM_STATES = ['starting', 'playing', 'backoff', 'stopped', 'ended', 'disabled'] as const;
/** Outbox priorities that always have a series, empty or not: 0-3 by severity, 4 telemetry. */
const KNOWN_PRIORITIES = [0, 1, 2, 3, 4];

/**
 * The Prometheus view of a telemetry report, on a registry of its own: the global registry would
 * mix in whatever else in the process registers metrics, and two daemons in one test process would
 * collide on it. Values are set from one report built at scrape time, so every series in a scrape
 * comes from the same moment. Unknown unlabelled values are NaN (Prometheus's "no value") and
 * unknown labelled ones are left out, rather than reported as a misleading 0.
 */
export class PrometheusMetrics {
  readonly registry = new Registry();
  private readonly g: ReturnType<typeof gauges>;
  private readonly c: ReturnType<typeof counters>;

  constructor() {
    this.g = gauges(this.registry);
    this.c = counters(this.registry);
  }

  update(t: TelemetryPayload, extra: { reportsQueued: number; storageHealth?: StorageHealth | null }): void {
    const { g, c } = this;
    for (const m of [...Object.values(g), ...Object.values(c)]) m.reset();
    g.info.set({ version: t.version, device: t.device, site: t.site }, 1);
    g.uptime.set(t.uptime_s);
    for (const s of t.streams) {
      const stream = s.id;
      if (s.analysed_fps !== null) g.fps.set({ stream }, s.analysed_fps);
      g.pulledFps.set({ stream }, s.pulled_fps);
      c.pulled.inc({ stream }, s.frames_pulled);
      c.dropped.inc({ stream }, s.frames_dropped);
      c.analysed.inc({ stream }, s.frames_analysed);
      c.restarts.inc({ stream }, s.restarts);
      for (const state of STREAM_STATES) g.state.set({ stream, state }, s.state === state ? 1 : 0);
      if (s.last_frame_age_s !== null) g.lastFrameAge.set({ stream }, s.last_frame_age_s);
      setQuantiles(g.inference, stream, s.inference_ms);
      setQuantiles(g.endToEnd, stream, s.end_to_end_ms);
    }
    const sys = t.system;
    g.cpu.set(sys.cpu_load_percent ?? Number.NaN);
    g.processCpu.set(sys.process_cpu_percent ?? Number.NaN);
    sys.load_avg.forEach((v, i) => g.loadAvg.set({ period: ['1m', '5m', '15m'][i] ?? String(i) }, v));
    g.rss.set(sys.memory.rss_bytes);
    g.heapUsed.set(sys.memory.heap_used_bytes);
    g.heapTotal.set(sys.memory.heap_total_bytes);
    g.memUsed.set(sys.memory.system_used_bytes ?? Number.NaN);
    g.memTotal.set(sys.memory.system_total_bytes ?? Number.NaN);
    for (const temp of sys.temperatures) g.temperature.set({ sensor: temp.sensor }, temp.celsius);
    if (sys.disk.free_bytes !== null) g.diskFree.set({ path: sys.disk.path }, sys.disk.free_bytes);
    if (sys.disk.total_bytes !== null) g.diskTotal.set({ path: sys.disk.path }, sys.disk.total_bytes);
    g.gpu.set(sys.gpu_load_percent ?? Number.NaN);
    g.emc.set(sys.emc_load_percent ?? Number.NaN);
    for (const r of sys.power_rails) g.rail.set({ rail: r.rail }, r.power_mw);
    g.sampleAge.set(sys.sample_age_s ?? Number.NaN);

    const queued = new Map(t.outbox.by_priority.map((p) => [p.priority, p]));
    for (const p of new Set([...KNOWN_PRIORITIES, ...queued.keys()])) {
      const row = queued.get(p);
      g.outboxDepth.set({ priority: String(p) }, row?.depth ?? 0);
      g.outboxAge.set({ priority: String(p) }, row?.oldest_age_s ?? 0);
    }
    g.outboxTotal.set(t.outbox.depth);
    g.outboxOldest.set(t.outbox.oldest_age_s ?? 0);
    g.connected.set(t.uplink?.connected ? 1 : 0);
    c.disconnects.inc(t.uplink?.disconnects ?? 0);
    c.acked.inc(t.uplink?.acked ?? 0);
    c.restartsAll.inc(t.pipeline_restarts);
    c.reports.inc(extra.reportsQueued);
    if (t.storage) {
      g.dbBytes.set(t.storage.db_bytes);
      g.events.set(t.storage.events);
    }
    const h = extra.storageHealth;
    if (h) {
      g.storageDegraded.set(h.state === 'degraded' ? 1 : 0);
      g.storageHeld.set(h.held);
      for (const [severity, n] of Object.entries(h.lost)) c.storageLost.inc({ severity }, n);
      c.storageUnstored.inc(h.unstored);
      c.storageWritten.inc(h.written);
      c.storageFaults.inc(h.faults);
      if (h.lastCommitMs !== null) g.commitMs.set(h.lastCommitMs);
    }
  }
}

function setQuantiles(gauge: Gauge<'stream' | 'quantile'>, stream: string, p: Percentiles | null): void {
  if (!p) return;
  gauge.set({ stream, quantile: '0.5' }, p.p50);
  gauge.set({ stream, quantile: '0.95' }, p.p95);
}

function gauges(registers: Registry) {
  const gauge = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> =>
    new Gauge<L>({ name, help, labelNames, registers: [registers] });
  return {
    info: gauge('vigil_info', 'Always 1; the labels say which daemon this is', ['version', 'device', 'site']),
    uptime: gauge('vigil_uptime_seconds', 'Seconds since telemetry started with the daemon'),
    fps: gauge('vigil_stream_fps', 'Frames analysed per second over about the last 10 s', ['stream']),
    pulledFps: gauge('vigil_stream_pulled_fps', 'Frames pulled from the pipeline per second', ['stream']),
    state: gauge('vigil_stream_state', '1 for the stream\'s current state, 0 for the others', ['stream', 'state']),
    lastFrameAge: gauge('vigil_stream_last_frame_age_seconds', 'Seconds since the newest frame was pulled', ['stream']),
    inference: gauge('vigil_inference_ms', 'Inference time per frame over the last 256 inferences, ms', ['stream', 'quantile']),
    endToEnd: gauge('vigil_end_to_end_latency_ms',
      'Frame pulled to its events committed (waiting, inference, rules), over the last 256 frames, ms', ['stream', 'quantile']),
    cpu: gauge('vigil_cpu_load_percent', 'Load of all cores, percent, over the last sample period'),
    processCpu: gauge('vigil_process_cpu_percent', 'CPU used by vigild, percent of one core'),
    loadAvg: gauge('vigil_load_average', 'System load average', ['period']),
    rss: gauge('vigil_process_rss_bytes', 'Resident memory of vigild'),
    heapUsed: gauge('vigil_process_heap_used_bytes', 'V8 heap in use'),
    heapTotal: gauge('vigil_process_heap_total_bytes', 'V8 heap reserved'),
    memUsed: gauge('vigil_memory_used_bytes', 'System memory in use (total minus available)'),
    memTotal: gauge('vigil_memory_total_bytes', 'System memory'),
    temperature: gauge('vigil_temperature_celsius', 'Temperature per thermal sensor', ['sensor']),
    diskFree: gauge('vigil_disk_free_bytes', 'Free space on the filesystem of the state directory', ['path']),
    diskTotal: gauge('vigil_disk_total_bytes', 'Size of the filesystem of the state directory', ['path']),
    gpu: gauge('vigil_gpu_load_percent', 'Integrated GPU load (Jetson), percent; NaN where there is none'),
    emc: gauge('vigil_emc_load_percent', 'External memory controller load (Jetson), percent; NaN where there is none'),
    rail: gauge('vigil_power_rail_milliwatts', 'Power per supply rail from the INA3221 monitors (Jetson)', ['rail']),
    sampleAge: gauge('vigil_telemetry_sample_age_seconds', 'Age of the cached system values (CPU, temperature, disk, GPU)'),
    outboxDepth: gauge('vigil_outbox_depth', 'Messages waiting for the broker, by priority (0 critical … 3 info, 4 telemetry)', ['priority']),
    outboxAge: gauge('vigil_outbox_oldest_age_seconds', 'Age of the oldest waiting message, by priority; 0 when none', ['priority']),
    outboxTotal: gauge('vigil_outbox_depth_total', 'Messages waiting for the broker; -1 when the store cannot be read'),
    outboxOldest: gauge('vigil_outbox_oldest_total_age_seconds', 'Age of the oldest waiting message; 0 when none'),
    connected: gauge('vigil_uplink_connected', '1 while connected to the MQTT broker'),
    dbBytes: gauge('vigil_db_bytes', 'Bytes in use in the event database'),
    events: gauge('vigil_events_stored', 'Events in the database'),
    storageDegraded: gauge('vigil_storage_degraded', '1 while the database takes no writes (events held in memory, sent directly)'),
    storageHeld: gauge('vigil_storage_held_events', 'Events held in memory for the database while degraded'),
    commitMs: gauge('vigil_storage_commit_ms', 'Duration of the newest event commit (fsync included), ms'),
  };
}

function counters(registers: Registry) {
  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> =>
    new Counter<L>({ name, help, labelNames, registers: [registers] });
  return {
    pulled: counter('vigil_stream_frames_pulled_total', 'Frames pulled from the pipeline', ['stream']),
    dropped: counter('vigil_stream_frames_dropped_total', 'Frames dropped because analysis was busy', ['stream']),
    analysed: counter('vigil_stream_frames_analysed_total', 'Frames analysed', ['stream']),
    restarts: counter('vigil_pipeline_restarts_total', 'Pipeline restarts (errors, stalls, ends of live streams)', ['stream']),
    restartsAll: counter('vigil_pipeline_restarts_all_total', 'Pipeline restarts, all streams'),
    disconnects: counter('vigil_uplink_disconnects_total', 'Failed connection attempts and lost connections'),
    acked: counter('vigil_uplink_acked_total', 'Messages acknowledged by the broker'),
    reports: counter('vigil_telemetry_reports_total', 'Telemetry reports queued for the hub'),
    storageLost: counter('vigil_storage_lost_total', 'Events given up by the degraded-mode queue bound before the broker or the database had them', ['severity']),
    storageUnstored: counter('vigil_storage_unstored_total', 'Events given up by the degraded-mode queue bound after the broker acknowledged them'),
    storageWritten: counter('vigil_storage_held_written_total', 'Held events written once the database took writes again'),
    storageFaults: counter('vigil_storage_faults_total', 'Times the database stopped taking writes'),
  };
}

/** `host:port`, with IPv6 hosts in brackets. */
export function parseListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(colon + 1)) };
}

/**
 * The `/metrics` endpoint. It must never cost the video: a scrape builds one report from counters
 * and cached system values, and any failure is answered with a 500 and logged, never thrown.
 */
export class MetricsServer {
  private server: Server | null = null;

  constructor(private readonly metrics: PrometheusMetrics, private readonly refresh: () => void, private readonly log: Logger) {}

  async listen(listen: string): Promise<AddressInfo> {
    const { host, port } = parseListen(listen);
    const server = createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (url !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      void this.answer(res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.warn({ err: errorMessage(err) }, 'metrics endpoint error'));
    this.server = server;
    return server.address() as AddressInfo;
  }

  private async answer(res: import('node:http').ServerResponse): Promise<void> {
    try {
      this.refresh();
      const body = await this.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(body);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'metrics scrape failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('metrics unavailable\n');
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
