// The one shape of a telemetry point, shared by the server (telemetry-history.ts) and the Health page
// (web/): type-only and import-free, so the browser program can read it too.

/** One point of the Health page's charts; null where the device cannot tell (no GPU, no sensor, no stream yet). */
export interface TelemetrySample {
  /** ms since the epoch */
  ts: number;
  /** Frames analysed per second, all streams together. */
  fps: number | null;
  /** Inference per frame, ms: the median of the slowest stream. */
  inference_ms: number | null;
  /** Frame pulled to events committed, ms: the p95 of the slowest stream. */
  e2e_ms: number | null;
  /** All cores, percent. */
  cpu: number | null;
  gpu: number | null;
  /** System memory in use, bytes. */
  mem: number | null;
  /** vigild's resident memory, bytes. */
  rss: number;
  /** The hottest sensor, °C. */
  temp: number | null;
  /** All supply rails together, mW (Jetson). */
  power: number | null;
  /** Messages waiting for the broker. */
  outbox: number;
  disk_free: number | null;
  /** Per stream: analysed fps, inference median and end-to-end p95. */
  streams: Record<string, { fps: number | null; inference_ms: number | null; e2e_ms: number | null }>;
}
