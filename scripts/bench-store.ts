/**
 * Store-and-forward benchmark: events committed per second into SQLite (in batches), then the
 * time for the uplink to drain the resulting backlog to a local mosquitto at QoS 1, the messages
 * per second that makes, and the RSS growth while doing so. A hub subscriber counts distinct ids, so
 * a fast but lossy drain cannot pass.
 *
 *   node dist/scripts/bench-store.js [--events 100000] [--batch 500] [--inflight 32] [--nagle] [--out FILE]
 *     [--writer-events 2000] [--slow-fsync-ms 0]
 *
 * The store writer phase records events one at a time through the live path (StoreWriter: commits
 * on its own thread) and reports what a record costs the calling thread (the frame path) and the
 * events per second its group commits reach. `--slow-fsync-ms 250` runs the whole bench with every
 * fsync/fdatasync delayed that long (an LD_PRELOAD shim built with gcc): a slow SD card.
 *
 * The broker runs with `set_tcp_nodelay true` unless --nagle is given: mosquitto's default leaves
 * Nagle's algorithm on for its PUBACKs, which holds the drain to about 800 msg/s on loopback
 * whatever the client does (docs/hub-contract.md tells hub operators).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectAsync } from 'mqtt';
import { mqttSchema } from '../daemon/config/schema.js';
import { createLogger, silentLogger } from '../daemon/log.js';
import { EventStore } from '../daemon/store/event-store.js';
import { DATABASE_FILE } from '../daemon/store/open.js';
import { StoreWriter } from '../daemon/store/store-writer.js';
import type { NewEvent } from '../daemon/store/types.js';
import { alertOutbox } from '../daemon/uplink/alert-message.js';
import { Uplink } from '../daemon/uplink/uplink.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { tempDir } from '../test/helpers/shared.js';
import { ScriptContext } from './script-context.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '500' },
    inflight: { type: 'string', default: '32' },
    out: { type: 'string', default: '/tmp/vigil-bench-store.json' },
    nagle: { type: 'boolean', default: false },
    'writer-events': { type: 'string', default: '2000' },
    'slow-fsync-ms': { type: 'string', default: '0' },
  },
});
const SLOW_FSYNC_MS = Number(values['slow-fsync-ms']);
const WRITER_EVENTS = Number(values['writer-events']);
const EVENTS = Number(values.events);
const BATCH = Number(values.batch);
const INFLIGHT = Number(values.inflight);
const device = { id: 'bench-1', site: 'lab' };

const ctx = new ScriptContext();

function event(i: number): NewEvent {
  const severities = ['info', 'warning', 'alert', 'critical'] as const;
  return {
    ts: Date.now(), stream: `cam-${i % 4}`, rule: 'people', severity: severities[i % 4] ?? 'alert', kind: 'presence',
    payload: { objects: [{ label: 'person', score: 0.87, box: [100, 120, 180, 320] }, { label: 'car', score: 0.61, box: [400, 200, 640, 360] }] },
  };
}

const mib = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** Builds the fsync-delay shim and runs this bench again under it; returns its exit code. */
async function underSlowFsync(): Promise<number> {
  const dir = await tempDir(ctx, 'vigil-bench-shim-');
  const src = path.join(dir, 'slow-fsync.c');
  writeFileSync(src, `#define _GNU_SOURCE
#include <dlfcn.h>
#include <time.h>
static void slow(void) { struct timespec ts = { ${Math.floor(SLOW_FSYNC_MS / 1000)}, ${(SLOW_FSYNC_MS % 1000) * 1_000_000}L }; nanosleep(&ts, 0); }
int fsync(int fd) { static int (*real)(int); if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync"); slow(); return real(fd); }
int fdatasync(int fd) { static int (*real)(int); if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync"); slow(); return real(fd); }
`);
  const lib = path.join(dir, 'slow-fsync.so');
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', lib, src, '-ldl']);
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, LD_PRELOAD: lib, VIGIL_BENCH_SLOW_FSYNC: '1' } });
  return child.status ?? 1;
}

async function main(): Promise<void> {
  if (SLOW_FSYNC_MS > 0 && process.env['VIGIL_BENCH_SLOW_FSYNC'] === undefined) {
    process.exitCode = await underSlowFsync();
    return;
  }
  const broker = await startMosquitto(ctx, values.nagle ? {} : { extraConfig: ['set_tcp_nodelay true'] });
  const dir = await tempDir(ctx, 'vigil-bench-store-');
  const store = EventStore.open(dir, { recover: true });
  ctx.after(() => store.close());

  // 1. Commit rate: batches of BATCH events, each batch one transaction at synchronous=FULL.
  const toOutbox = alertOutbox(device);
  const ids = new Set<string>();
  const t0 = performance.now();
  for (let i = 0; i < EVENTS; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, EVENTS - i) }, (_, k) => event(i + k));
    for (const e of store.recordEvents(batch, toOutbox)) ids.add(e.id);
  }
  const commitS = (performance.now() - t0) / 1000;
  // The single-event path the live pipeline uses, for comparison (one fsync each).
  const singles = SLOW_FSYNC_MS > 0 ? 20 : 500;
  const t1 = performance.now();
  for (let i = 0; i < singles; i += 1) ids.add(store.recordEvent(event(i), toOutbox).id);
  const singleS = (performance.now() - t1) / 1000;

  // The live path: one event at a time through the store writer. What the caller (the frame
  // loop) pays per record, and how fast the writer's group commits keep up.
  const writer = new StoreWriter({ file: path.join(dir, DATABASE_FILE), store, device, log: silentLogger(), publisher: () => null });
  const costs: number[] = [];
  let committed = 0;
  const t3 = performance.now();
  for (let i = 0; i < WRITER_EVENTS; i += 1) {
    const s = performance.now();
    ids.add(writer.record(event(i), toOutbox, () => { committed += 1; }).id);
    costs.push((performance.now() - s) * 1000);
    // A frame's worth of other work between events, so that commits overlap with recording.
    if (i % 10 === 9) await new Promise((r) => setImmediate(r));
  }
  while (committed < WRITER_EVENTS) await new Promise((r) => setTimeout(r, 5));
  const writerS = (performance.now() - t3) / 1000;
  const lastCommitMs = writer.health().lastCommitMs;
  // Open through the drain, as in the daemon: the WAL is checkpointed on the writer's thread.
  ctx.after(() => writer.close());
  costs.sort((a, b) => a - b);
  const pct = (q: number): number => Math.round((costs[Math.min(costs.length - 1, Math.floor(q * costs.length))] ?? 0) * 10) / 10;
  const backlog = store.outboxStats().depth;

  // 2. Drain: a hub subscriber, then the uplink against the backlog.
  const hub = await connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-hub' });
  ctx.after(() => hub.endAsync(true));
  const received = new Set<string>();
  let messages = 0;
  hub.on('message', (topic, _payload, packet) => {
    if (topic.endsWith('/state')) return;
    messages += 1;
    const id = packet.properties?.userProperties?.['event_id'];
    if (typeof id === 'string') received.add(id);
  });
  await hub.subscribeAsync(`vigil/v1/${device.site}/${device.id}/#`, { qos: 1 });

  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss); }, 50);
  const uplink = new Uplink({
    config: mqttSchema.parse({ url: broker.url, inflight: INFLIGHT, reconnect_min_ms: 100 }), device, outbox: store,
    log: process.env['BENCH_LOG'] ? createLogger(process.env['BENCH_LOG']) : silentLogger(), state: () => ({ version: 'bench', streams: [], providers: [] }),
  });
  ctx.after(() => uplink.stop());
  const t2 = performance.now();
  await uplink.start(new AbortController().signal);
  let lastReport = Date.now();
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (Date.now() - lastReport >= 5000) {
        lastReport = Date.now();
        const status = uplink.status();
        process.stderr.write(`draining: ${status.outboxDepth} left, ${Math.round(status.ackRate)} msg/s, hub ${received.size}\n`);
      }
      // One index probe; a count would scan the backlog every poll and slow the drain it measures.
      if (store.peekOutbox(1).length === 0) {
        clearInterval(poll);
        resolve();
      }
    }, 10);
  });
  const drainS = (performance.now() - t2) / 1000;
  const ackRate = uplink.status().ackRate;
  // The subscriber may lag the PUBACKs a little; its count is what proves nothing was lost.
  const deadline = Date.now() + 30_000;
  while (received.size < ids.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  clearInterval(sampler);
  const missing = [...ids].filter((id) => !received.has(id)).length;

  const result = {
    events: ids.size,
    batch: BATCH,
    commit_events_per_s: Math.round(EVENTS / commitS),
    single_commit_events_per_s: Math.round(singles / singleS),
    slow_fsync_ms: SLOW_FSYNC_MS,
    writer_events: WRITER_EVENTS,
    writer_record_us_p50: pct(0.5),
    writer_record_us_p99: pct(0.99),
    writer_events_per_s: Math.round(WRITER_EVENTS / writerS),
    writer_last_commit_ms: lastCommitMs === null ? null : Math.round(lastCommitMs * 10) / 10,
    backlog,
    inflight_window: INFLIGHT,
    broker_nagle: values.nagle,
    drain_s: Math.round(drainS * 100) / 100,
    drain_msgs_per_s: Math.round(backlog / drainS),
    ack_rate_last_10s: Math.round(ackRate),
    hub_messages: messages,
    hub_distinct_ids: received.size,
    missing_ids: missing,
    duplicates: messages - received.size,
    rss_before_mib: mib(rssBefore),
    rss_peak_mib: mib(rssPeak),
    rss_growth_mib: mib(rssPeak - rssBefore),
    db_file_mib: mib(store.storageStatus().fileBytes),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
  const targets = [
    ['commit >= 20000 events/s in batches', SLOW_FSYNC_MS > 0 || result.commit_events_per_s >= 20_000],
    ['store writer: a record costs the caller < 1 ms at p99', result.writer_record_us_p99 < 1000],
    ['drain >= 5000 msg/s', result.drain_msgs_per_s >= 5_000],
    ['rss growth < 50 MiB', result.rss_growth_mib < 50],
    ['every id received', missing === 0],
  ] as const;
  for (const [what, ok] of targets) process.stdout.write(`${ok ? 'ok  ' : 'MISS'} ${what}\n`);
  process.exitCode = targets.every(([, ok]) => ok) ? 0 : 1;
}

try {
  await main();
} finally {
  await ctx.cleanup();
}
