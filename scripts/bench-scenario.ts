/**
 * One benchmark scenario, run by `scripts/bench.ts` in a child process of its own so that its CPU
 * time and resident memory are its own: the whole daemon (video → motion → scheduler → inference
 * → rules → SQLite → MQTT to a real mosquitto) with the streams given, measured over a steady
 * window. A presence rule fires on every analysed frame, so every frame ends in a stored event
 * and a QoS 1 publish: the end-to-end latency is from the frame's pull to the broker's PUBACK.
 *
 *   node dist/scripts/bench-scenario.js '<json Scenario>' <result.json>
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App } from '../daemon/app.js';
import { validateConfig } from '../daemon/config/load.js';
import { silentLogger } from '../daemon/log.js';
import { EventStore } from '../daemon/store/event-store.js';
import { SampleRing } from '../daemon/util/sample-ring.js';

export interface ScenarioStream {
  id: string;
  uri: string;
  fps: number;
  realtime: boolean;
  priority?: 'low' | 'normal' | 'high';
  gate?: boolean;
  /** Decode in a child process (docs/process-isolation.md); scripts/bench-isolation.ts compares. */
  isolation?: 'in-process' | 'process';
}

export interface Scenario {
  mqttUrl: string;
  manifest: string;
  modelsDir: string;
  streams: ScenarioStream[];
  seconds: number;
  /** The presence rule's cooldown: 0 stores and sends an event for every analysed frame with a person. */
  cooldownS: number;
  /** `evidence.encoder` (default auto): `js` for an A/B against jpeg-js. */
  evidenceEncoder?: 'auto' | 'js';
}

export interface StreamResult {
  id: string;
  /** Per second over the window: frames pulled from GStreamer, frames handled by the analyzer, inferences. */
  pulledFps: number;
  handledFps: number;
  inferredFps: number;
  /** Over the window: frames replaced in the one-frame slot, skipped by the scheduler, gated as still. */
  dropped: number;
  skipped: number;
  gated: number;
}

export interface ScenarioResult {
  streams: StreamResult[];
  seconds: number;
  /** Inference alone (inside onnxruntime), ms. */
  inferMsP50: number;
  inferMsP95: number;
  /** JavaScript work per inferred frame, ms (p50): tensor fill, output decoding + NMS, tracker + rules + store. */
  preMsP50: number;
  postMsP50: number;
  afterMsP50: number;
  /**
   * The inference worker's thread over the window: the share of time it worked (its own clock,
   * from taking a request to answering it), and its wait for each next request, ms.
   */
  modelBusy: number;
  idleMsP50: number;
  idleMsP95: number;
  /** The same on frames that stored an event (one SQLite transaction, synchronous=FULL). */
  eventFrameMsP50: number;
  events: number;
  /** Frame pulled → PUBACK of its event, ms. */
  e2eMsP50: number;
  e2eMsP99: number;
  e2eSamples: number;
  cpuPercent: number;
  /** Resident memory over the window: the peak, and the median of samples every 100 ms (steadier between runs). */
  rssMiB: number;
  rssMedianMiB: number;
  heapMiB: number;
  /** Set when the scenario failed; the other fields are then empty. */
  error?: string;
  /** The measuring window, wall clock (ms since epoch): for a caller sampling the processes from outside. */
  windowStartMs?: number;
  windowEndMs?: number;
}

const [json, out] = process.argv.slice(2);
if (json === undefined || out === undefined) throw new Error('usage: bench-scenario <scenario json> <result file>');
const sc = JSON.parse(json) as Scenario;
// A scenario that cannot finish (a stream that never plays on an overloaded machine) must not
// hold up the whole benchmark: its parent records the failure and goes on.
setTimeout(() => {
  process.stderr.write('bench-scenario: did not finish in time\n');
  process.exit(3);
}, (sc.seconds + 75) * 1000).unref();

// Frame pulled → PUBACK: the drainer peeks a row before publishing it and deletes it on its PUBACK
// (in the same event-loop turn). Wrapping those two store methods measures that without touching
// the uplink: the row's payload carries the frame's time.
const e2e: number[] = [];
const frameTsBySeq = new Map<number, number>();
let measuring = false;
/* eslint-disable @typescript-eslint/unbound-method -- wrapped and called with the original `this` */
const peek = EventStore.prototype.peekOutbox;
const ack = EventStore.prototype.ackOutbox;
/* eslint-enable @typescript-eslint/unbound-method */
EventStore.prototype.peekOutbox = function (this: EventStore, ...args) {
  const rows = peek.apply(this, args);
  for (const r of rows) {
    if (frameTsBySeq.has(r.seq)) continue;
    try {
      const ts = (JSON.parse(r.payload) as { ts?: string }).ts;
      if (typeof ts === 'string') frameTsBySeq.set(r.seq, Date.parse(ts));
    } catch {
      // not an alert (a state or storage message): nothing to time
    }
  }
  return rows;
};
EventStore.prototype.ackOutbox = function (this: EventStore, seqs) {
  const now = Date.now();
  for (const seq of seqs) {
    const ts = frameTsBySeq.get(seq);
    frameTsBySeq.delete(seq);
    if (ts !== undefined && measuring) e2e.push(now - ts);
  }
  return ack.call(this, seqs);
};

const pct = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const p50 = (r: SampleRing | undefined): number => r?.percentiles()?.p50 ?? NaN;

const dir = await mkdtemp(path.join(tmpdir(), 'vigil-bench-'));
const cfg = validateConfig({
  device: { id: 'bench', site: 'lab' }, storage: { dir }, mqtt: { url: sc.mqttUrl }, models_dir: sc.modelsDir,
  models: [{ name: 'm', manifest: sc.manifest }], inference: { threads: 1, providers: ['cpu'] },
  control: { enabled: false }, telemetry: { prometheus: { enabled: false } }, evidence: { encoder: sc.evidenceEncoder ?? 'auto' },
  streams: sc.streams.map((s) => ({
    id: s.id, uri: s.uri, model: 'm', fps: s.fps, realtime: s.realtime, loop: true, priority: s.priority ?? 'normal',
    motion: { gate: { enabled: s.gate ?? false } }, ...(s.isolation ? { isolation: s.isolation } : {}),
  })),
  rules: sc.streams.map((s) => ({ id: `people-${s.id}`, stream: s.id, kind: 'presence', classes: ['person'], min_score: 0.3, cooldown_s: sc.cooldownS })),
}, 'bench');
const app = new App(cfg, silentLogger(), { statsIntervalMs: 0 });
await app.start(new AbortController().signal);

const snapshot = (): Map<string, { pulled: number; handled: number; inferred: number; dropped: number; skipped: number; gated: number }> =>
  new Map(app.status().streams.map((s) => [s.id, {
    pulled: s.framesPulled, handled: s.analysis.inferences + s.analysis.gatedFrames, inferred: s.analysis.inferences,
    dropped: s.framesDropped, skipped: s.analysis.skippedFrames, gated: s.analysis.gatedFrames,
  }]));

// Steady state: every stream past its first inferences (model warm, pipelines playing).
const deadline = Date.now() + 60_000;
while (!app.status().streams.every((s) => s.analysis.inferences >= 3)) {
  if (Date.now() > deadline) {
    process.stderr.write(`bench-scenario: streams did not start analysing within 60 s: ${JSON.stringify(app.status().streams.map((s) => [s.id, s.state, s.analysis.inferences]))}\n`);
    process.exit(2);
  }
  await new Promise((r) => setTimeout(r, 50));
}
await new Promise((r) => setTimeout(r, 1000));
const before = snapshot();
const busyTotal = (): number => app.inferenceProfiles().models[0]?.profile?.busy?.totalMs ?? NaN;
const busy0 = busyTotal();
measuring = true;
const cpu0 = process.cpuUsage();
const windowStartMs = Date.now();
const t0 = performance.now();
let rss = 0;
const rssSamples: number[] = [];
while (performance.now() - t0 < sc.seconds * 1000) {
  const now = process.memoryUsage().rss;
  rssSamples.push(now);
  rss = Math.max(rss, now);
  await new Promise((r) => setTimeout(r, 100));
}
const seconds = (performance.now() - t0) / 1000;
const windowEndMs = Date.now();
const cpu = process.cpuUsage(cpu0);
const after = snapshot();
const busyMs = busyTotal() - busy0;
measuring = false;
const heap = process.memoryUsage().heapUsed;
const profiles = app.inferenceProfiles();
const profile = profiles.models[0]?.profile ?? null;
const afterMs = pct(profiles.streams.map((st) => st.afterInferenceMs?.p50 ?? NaN).filter(Number.isFinite), 50);
const eventFrameMs = pct(profiles.streams.map((st) => st.eventFrameMs?.p50 ?? NaN).filter(Number.isFinite), 50);
const events = app.status().streams.reduce((n, st) => n + st.analysis.events, 0);
await app.stop();
await rm(dir, { recursive: true, force: true });

const result: ScenarioResult = {
  seconds,
  streams: [...after.entries()].map(([id, a]) => {
    const b = before.get(id) ?? { pulled: 0, handled: 0, inferred: 0, dropped: 0, skipped: 0, gated: 0 };
    return {
      id, pulledFps: (a.pulled - b.pulled) / seconds, handledFps: (a.handled - b.handled) / seconds,
      inferredFps: (a.inferred - b.inferred) / seconds, dropped: a.dropped - b.dropped, skipped: a.skipped - b.skipped,
      gated: a.gated - b.gated,
    };
  }),
  inferMsP50: p50(profile?.runMs), inferMsP95: profile?.runMs.percentiles()?.p95 ?? NaN,
  modelBusy: busyMs / 1000 / seconds, idleMsP50: p50(profile?.idleMs), idleMsP95: profile?.idleMs?.percentiles()?.p95 ?? NaN,
  preMsP50: p50(profile?.preMs), postMsP50: p50(profile?.postMs), afterMsP50: afterMs, eventFrameMsP50: eventFrameMs, events,
  e2eMsP50: pct(e2e, 50), e2eMsP99: pct(e2e, 99), e2eSamples: e2e.length,
  windowStartMs, windowEndMs,
  cpuPercent: (100 * (cpu.user + cpu.system)) / 1e6 / seconds, rssMiB: rss / 2 ** 20, rssMedianMiB: pct(rssSamples, 50) / 2 ** 20, heapMiB: heap / 2 ** 20,
};
await writeFile(out, JSON.stringify(result));
process.exit(0);
