/**
 * Response-tier benchmark: the real daemon (App, in-process) on a real clip through a real model,
 * tracker and zone rule, with a real mosquitto as both the site's local broker and the hub. Every
 * event is timed from the moment its frame's inference finished to each stage: committed, local
 * action done (tier 1), PUBACK from the hub broker (tier 2), evidence snapshot stored and queued
 * (tier 3). Prints p50/p99 per stage against the limits 50 / 200 / 5000 ms.
 *
 *   node dist/scripts/bench-tiers.js [--seconds 40] [--fps 5] [--actions both|mqtt|hook|none] [--no-evidence] [--out FILE]
 *
 * The clip is pedestrians.mp4 looped at its own rate (a simulated camera), with a zone over the
 * lower two thirds of the plaza: every person walking into it is an `enter` event (alert).
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { connectAsync } from 'mqtt';
import { App } from '../daemon/app.js';
import { validateConfig } from '../daemon/config/load.js';
import { createLogger, silentLogger } from '../daemon/log.js';
import { STAGES, type Stage } from '../daemon/tiers/timings.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { sharedPath, tempDir } from '../test/helpers/shared.js';
import { ScriptContext } from './script-context.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '40' },
    fps: { type: 'string', default: '5' },
    actions: { type: 'string', default: 'both' },
    'no-evidence': { type: 'boolean', default: false },
    out: { type: 'string', default: '/tmp/vigil-bench-tiers.json' },
  },
});
const SECONDS = Number(values.seconds);
const FPS = Number(values.fps);
const ACTIONS = values.actions;
if (!['both', 'mqtt', 'hook', 'none'].includes(ACTIONS)) throw new Error(`--actions: expected both, mqtt, hook or none, got ${ACTIONS}`);
const device = { id: 'bench-1', site: 'lab' };

const ctx = new ScriptContext();

const LIMITS: Readonly<Record<Stage, number | null>> = { commit: null, action: 50, puback: 200, evidence: 5000 };
const TIER: Readonly<Record<Stage, string>> = { commit: 'event committed', action: 'tier 1 local action', puback: 'tier 2 hub PUBACK', evidence: 'tier 3 evidence' };

async function main(): Promise<void> {
  const broker = await startMosquitto(ctx, { extraConfig: ['set_tcp_nodelay true'] });
  const dir = await tempDir(ctx, 'vigil-bench-tiers-');
  const hook = path.join(dir, 'hook');
  writeFileSync(hook, '#!/bin/sh\nexit 0\n');
  chmodSync(hook, 0o755);
  const on = ACTIONS === 'none' ? [] : [{
    severities: ['alert', 'critical'], mqtt: ACTIONS !== 'hook', ...(ACTIONS === 'both' || ACTIONS === 'hook' ? { command: [hook] } : {}),
  }];
  const cfg = validateConfig({
    device,
    storage: { dir: path.join(dir, 'state') },
    mqtt: { url: broker.url, reconnect_min_ms: 100, reconnect_max_ms: 1000 },
    models_dir: sharedPath('models'),
    models: [{ name: 'nanodet-m', manifest: path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'models', 'nanodet-m.json'), providers: ['cpu'] }],
    control: { enabled: false },
    streams: [{ id: 'plaza', uri: pathToFileURL(sharedPath('video', 'pedestrians.mp4')).href, model: 'nanodet-m', loop: true, realtime: true, fps: FPS }],
    rules: [{ id: 'plaza-zone', stream: 'plaza', kind: 'zone', classes: ['person'], zone: [[0, 0.33], [1, 0.33], [1, 1], [0, 1]], units: 'norm', events: ['enter'], severity: 'alert' }],
    actions: { mqtt: { url: broker.url, topic: 'site/{stream}/{rule}' }, on },
    telemetry: { prometheus: { enabled: false } },
    evidence: { enabled: !values['no-evidence'] },
  }, 'bench-tiers');

  const hub = await connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-hub' });
  ctx.after(() => hub.endAsync(true));
  const counts = { alerts: 0, evidence: 0, local: 0 };
  hub.on('message', (topic) => {
    if (topic.endsWith('/alerts')) counts.alerts += 1;
    else if (topic.endsWith('/evidence')) counts.evidence += 1;
    else if (topic.startsWith('site/')) counts.local += 1;
  });
  await hub.subscribeAsync([`vigil/v1/${device.site}/${device.id}/+`, 'site/#'], { qos: 1 });

  const app = new App(cfg, process.env['BENCH_LOG'] ? createLogger(process.env['BENCH_LOG']) : silentLogger(), { statsIntervalMs: 0 });
  ctx.after(() => app.stop());
  // Event-loop stalls while the pipeline runs: what a synchronous step (a fork, an fsync) costs everyone.
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const loop = monitorEventLoopDelay({ resolution: 5 });
  await app.start(new AbortController().signal);
  loop.enable();
  const started = Date.now();
  while (Date.now() - started < SECONDS * 1000) {
    await new Promise((r) => setTimeout(r, 5000));
    const s = app.status();
    process.stderr.write(`${Math.round((Date.now() - started) / 1000)} s: ${s.streams[0]?.analysis.events ?? 0} events, ${s.streams[0]?.analysis.framesAnalysed ?? 0} frames\n`);
  }
  loop.disable();
  // Let the last snapshots and PUBACKs land before reading.
  await new Promise((r) => setTimeout(r, 2000));
  const status = app.status();
  const tiers = status.tiers;
  if (!tiers) throw new Error('no tier status');
  const stream = status.streams[0];
  const rows = STAGES.map((stage) => {
    const p = tiers.latencyMs[stage];
    const limit = LIMITS[stage];
    return {
      stage, tier: TIER[stage], samples: p?.samples ?? 0, p50_ms: p?.p50 ?? null, p99_ms: p?.p99 ?? null, limit_ms: limit,
      p99_over_limit: limit !== null && p ? Math.round((p.p99 / limit) * 100) / 100 : null,
    };
  });
  const result = {
    clip: 'pedestrians.mp4 (looped, real time)', seconds: SECONDS, analysed_fps: FPS, actions: ACTIONS, evidence: !values['no-evidence'],
    load_avg_1m: Math.round(loadavg()[0]! * 10) / 10,
    frames_analysed: stream?.analysis.framesAnalysed ?? 0, inference_ms: stream?.latency.inferenceMs ?? null,
    events: stream?.analysis.events ?? 0, hub_alerts: counts.alerts, hub_evidence: counts.evidence, local_messages: counts.local,
    action_stats: tiers.actions, evidence_stats: tiers.evidence,
    event_loop_delay_ms: { p50: Math.round(loop.percentile(50) / 1e4) / 100, p99: Math.round(loop.percentile(99) / 1e4) / 100, max: Math.round(loop.max / 1e4) / 100 },
    stages: rows,
  };
  writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ ...result, stages: undefined }, null, 2)}\n\n`);
  process.stdout.write('stage                 samples   p50 ms   p99 ms   limit   p99/limit\n');
  for (const r of rows) {
    const f = (v: number | null): string => (v === null ? '-' : v.toFixed(1));
    process.stdout.write(`${r.tier.padEnd(22)}${String(r.samples).padStart(7)}${f(r.p50_ms).padStart(9)}${f(r.p99_ms).padStart(9)}` +
      `${(r.limit_ms === null ? '-' : String(r.limit_ms)).padStart(8)}${(r.p99_over_limit === null ? '-' : r.p99_over_limit.toFixed(2)).padStart(12)}` +
      `${r.limit_ms !== null && r.p99_ms !== null ? (r.p99_ms <= r.limit_ms ? '  ok' : '  MISS') : ''}\n`);
  }
  const expected = (r: (typeof rows)[number]): boolean => !(r.stage === 'action' && ACTIONS === 'none') && !(r.stage === 'evidence' && values['no-evidence']);
  const missed = rows.some((r) => r.limit_ms !== null && ((r.samples === 0 && expected(r)) || (r.p99_ms !== null && r.p99_ms > r.limit_ms)));
  process.exitCode = missed ? 1 : 0;
}

try {
  await main();
} finally {
  await ctx.cleanup();
}
