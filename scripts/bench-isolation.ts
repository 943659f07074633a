/**
 * `npm run bench:isolation`: what process isolation (docs/process-isolation.md) costs, in one run,
 * against the same daemon with every stream in-process:
 *  - one stream as fast as it goes (bench-scenario.ts: the whole daemon, presence rule, mosquitto),
 *    in-process and isolated alternating, each round's ratio against the inference limit measured
 *    just before and just after it (the detector alone in a tight loop);
 *  - 1 and N camera-like streams (clip looped in real time) each way: memory of the whole process
 *    tree (vigild, its stream host and the stream processes, PSS, so shared pages count once) and its CPU, and
 *    from those the memory each added stream costs;
 *  - SIGSEGV of an isolated stream's process, again and again: kill → next frame of that stream,
 *    and the largest gap between another isolated stream's frames meanwhile.
 *
 *   npm run bench:isolation -- [--model models/nanodet-m.json] [--rounds 3] [--seconds 8] [--streams 4] [--kills 10] [--out FILE]
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Scenario, ScenarioResult, ScenarioStream } from './bench-scenario.js';
import { runWithDaemonSettings } from './daemon-settings.js';
import { ScriptContext } from './script-context.js';

// As bench.ts: the pool size and malloc settings vigild runs with are set before anything starts.
await runWithDaemonSettings();
const { DAEMON_NODE_FLAGS } = await import('../daemon/node-flags.cjs');
const { loadDetector } = await import('../daemon/inference/detector.js');
const { silentLogger } = await import('../daemon/log.js');
const { streamSchema } = await import('../daemon/config/schema.js');
const { threadPoolSize } = await import('../daemon/threadpool.cjs');
const { VideoStream } = await import('../daemon/video/stream.js');
const { ProcessIsolation } = await import('../daemon/video/isolated-pipeline.js');
const { StreamHost } = await import('../daemon/video/isolated-server.js');
const { startMosquitto } = await import('../test/helpers/mosquitto.js');

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const shared = process.env['VIGIL_SHARED_DIR'] ?? path.resolve(repo, '..', 'shared');
const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: path.join(repo, 'models', 'nanodet-m.json') },
    'models-dir': { type: 'string', default: path.join(shared, 'models') },
    clip: { type: 'string', default: path.join(shared, 'video', 'pedestrians.mp4') },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '8' },
    streams: { type: 'string', default: '4' },
    'stream-fps': { type: 'string', default: '10' },
    kills: { type: 'string', default: '10' },
    out: { type: 'string', default: path.join(tmpdir(), 'vigil-bench-isolation.json') },
  },
});
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
const manyStreams = Number(args.streams);
const streamFps = Number(args['stream-fps']);
const kills = Number(args.kills);
type Mode = 'in-process' | 'process';
const MODES: readonly Mode[] = ['in-process', 'process'];

const ctx = new ScriptContext();
const work = await mkdtemp(path.join(tmpdir(), 'vigil-bench-iso-'));
ctx.after(() => rm(work, { recursive: true, force: true }));
const log = (line: string): void => { process.stderr.write(`bench-isolation: ${line}\n`); };
const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-');

/** The detector alone in a tight loop on a real frame, `ms` long after a warm-up: calls per second. */
async function inferenceLimit(ms = 3000): Promise<number> {
  const detector = await loadDetector({ name: 'bench', manifestPath: args.model, modelsDir: args['models-dir'], providers: ['cpu'], threads: 1 }, silentLogger());
  try {
    const size = detector.inputSize();
    const stream = new VideoStream(streamSchema.parse({ id: 'frame', uri: `file://${args.clip}`, realtime: false, fps: 30 }),
      { log: silentLogger(), analysis: { width: size.width, height: size.height, resize: 'fit', format: 'BGRx' } });
    await stream.start(new AbortController().signal);
    let frame = null;
    for (let i = 0; i < 10; i++) frame = await stream.next();
    await stream.stop();
    if (frame === null) throw new Error(`no frame from ${args.clip}`);
    for (const w0 = performance.now(); performance.now() - w0 < 1500;) await detector.detect(frame);
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      await detector.detect(frame);
      n++;
    }
    return (1000 * n) / (performance.now() - t0);
  } finally {
    await detector.close();
  }
}

/** /proc/<pid>/stat's parent and CPU ticks (utime + stime); undefined once the process is gone. */
function procStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

function pssKiB(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return 0;
  }
}

/** `root` and every process below it. */
function tree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = procStat(pid);
    if (st) parents.set(pid, st.ppid);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parents) if (ppid === out[i]) out.push(pid);
  return out;
}

/** `at`: wall clock (ms since epoch), to compare with the scenario's window. */
interface TreeSample { at: number; pssMiB: number; childrenPssMiB: number; ticks: Map<number, number> }

interface Run { result: ScenarioResult; pssMiB: number; childrenPssMiB: number; treeCpuPercent: number; processes: number }

let mqttUrl = '';
const TICK_HZ = 100;

/** One bench-scenario run, with the process tree sampled from outside every 200 ms. */
async function scenario(streams: ScenarioStream[], cooldownS = 0): Promise<Run> {
  const sc: Scenario = { mqttUrl, manifest: args.model, modelsDir: args['models-dir'], streams, seconds, cooldownS };
  const out = path.join(work, `result-${Date.now()}.json`);
  const env = { ...process.env, UV_THREADPOOL_SIZE: String(threadPoolSize(streams.length, 1)) };
  const samples: TreeSample[] = [];
  const child = execFile(process.execPath, [...DAEMON_NODE_FLAGS, path.join(repo, 'dist', 'scripts', 'bench-scenario.js'), JSON.stringify(sc), out],
    { env, timeout: (seconds + 90) * 1000, maxBuffer: 16 * 1024 * 1024 });
  const root = child.pid ?? 0;
  const sampler = setInterval(() => {
    const pids = tree(root);
    const ticks = new Map<number, number>();
    let pss = 0;
    let children = 0;
    for (const pid of pids) {
      const kib = pssKiB(pid);
      pss += kib;
      if (pid !== root) children += kib;
      const st = procStat(pid);
      if (st) ticks.set(pid, st.ticks);
    }
    samples.push({ at: Date.now(), pssMiB: pss / 1024, childrenPssMiB: children / 1024, ticks });
  }, 200);
  await new Promise<void>((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`scenario exited ${code ?? '?'}: ${stderr.trim()}`))));
  }).finally(() => clearInterval(sampler));
  const result = JSON.parse(await readFile(out, 'utf8')) as ScenarioResult;
  // Only the samples inside the scenario's measuring window: its start and stop spawn and end processes.
  const window = samples.filter((s) => s.at >= (result.windowStartMs ?? Infinity) && s.at <= (result.windowEndMs ?? -Infinity));
  const first = window[0];
  const last = window.at(-1);
  let ticks = 0;
  if (first && last) for (const [pid, t] of last.ticks) ticks += t - (first.ticks.get(pid) ?? t);
  const span = first && last ? (last.at - first.at) / 1000 : NaN;
  return {
    result, pssMiB: pct(window.map((s) => s.pssMiB), 50), childrenPssMiB: pct(window.map((s) => s.childrenPssMiB), 50), treeCpuPercent: (100 * ticks) / TICK_HZ / span,
    processes: last?.ticks.size ?? 0,
  };
}

const single = (mode: Mode): ScenarioStream[] => [{ id: 'clip', uri: `file://${args.clip}`, fps: 120, realtime: false, isolation: mode }];
const cameras = (n: number, mode: Mode): ScenarioStream[] =>
  Array.from({ length: n }, (_, i) => ({ id: `cam${i}`, uri: `file://${args.clip}`, fps: streamFps, realtime: true, isolation: mode }));

interface CrashResult { restartMs: number[]; otherMaxGapMs: number; otherFrames: number }

/** SIGSEGV of stream A's process, `kills` times; B (isolated too) runs beside it at `streamFps`. */
async function crashes(): Promise<CrashResult> {
  const analysis = { width: 416, height: 416, resize: 'fit' as const, format: 'BGRx' as const };
  const cfg = (id: string): ReturnType<typeof streamSchema.parse> => streamSchema.parse({ id, uri: `file://${args.clip}`, fps: streamFps, loop: true, restart_min_ms: 100, restart_max_ms: 400 });
  // Both forked from one stream host, as in vigild (stream-supervisor.ts).
  const server = new StreamHost(silentLogger());
  const hostA = new ProcessIsolation({ log: silentLogger(), server });
  const a = new VideoStream(cfg('a'), { log: silentLogger(), analysis, host: hostA });
  const b = new VideoStream(cfg('b'), { log: silentLogger(), analysis, host: new ProcessIsolation({ log: silentLogger(), server }) });
  const signal = new AbortController().signal;
  await a.start(signal);
  await b.start(signal);
  const arrivals: number[] = [];
  const bLoop = (async (): Promise<void> => {
    while ((await b.next()) !== null) arrivals.push(performance.now());
  })();
  const restartMs: number[] = [];
  try {
    await a.next();
    for (let i = 0; i < kills; i++) {
      const pid = hostA.pid;
      if (pid === null) throw new Error('stream a has no process');
      // Frames already in the slot are from before the kill: take the first one pulled after it.
      const pulled = a.status().framesPulled;
      const t0 = performance.now();
      process.kill(pid, 'SIGSEGV');
      for (;;) {
        const fr = await a.next();
        if (fr === null) throw new Error('stream a ended');
        if (a.status().framesPulled > pulled && hostA.pid !== pid) break;
      }
      restartMs.push(performance.now() - t0);
    }
  } finally {
    await a.stop();
    await b.stop();
    await bLoop;
  }
  // B's clip restarts its process at each end (a looped file), which is a gap of its own: left out.
  const gaps = arrivals.slice(1).map((x, i) => x - (arrivals[i] ?? x)).sort((x, y) => x - y);
  return { restartMs, otherMaxGapMs: gaps.at(-1) ?? NaN, otherFrames: arrivals.length };
}

try {
  const broker = await startMosquitto(ctx, { extraConfig: ['set_tcp_nodelay true'] });
  mqttUrl = broker.url;
  log(`inference limit (${path.basename(args.model)})`);
  let before = await inferenceLimit();
  // busy: the share of the window the model's thread worked; wait: its median wait for the next frame (ms).
  // Both say whether a run was bound by inference (busy near 1, wait near 0) whatever the load did to the limit.
  const roundsOut: { limit: number; fps: Record<Mode, number>; ratio: Record<Mode, number>; cpu: Record<Mode, number>; busy: Record<Mode, number>; wait: Record<Mode, number> }[] = [];
  for (let r = 0; r < rounds; r++) {
    const fps = { 'in-process': NaN, process: NaN } as Record<Mode, number>;
    const cpu = { 'in-process': NaN, process: NaN } as Record<Mode, number>;
    const busy = { 'in-process': NaN, process: NaN } as Record<Mode, number>;
    const wait = { 'in-process': NaN, process: NaN } as Record<Mode, number>;
    // Alternate which goes first, so a drift during the round favours neither.
    for (const mode of r % 2 === 0 ? MODES : [...MODES].reverse()) {
      log(`one stream as fast as it goes, ${mode} (round ${r + 1} of ${rounds})`);
      const run = await scenario(single(mode), 1);
      fps[mode] = run.result.streams[0]?.inferredFps ?? NaN;
      cpu[mode] = run.treeCpuPercent;
      busy[mode] = run.result.modelBusy;
      wait[mode] = run.result.idleMsP50;
    }
    const after = await inferenceLimit();
    const limit = (before + after) / 2;
    before = after;
    roundsOut.push({ limit, fps, cpu, busy, wait, ratio: { 'in-process': fps['in-process'] / limit, process: fps.process / limit } });
    log(`  limit ${f(limit)} fps; in-process ${f(fps['in-process'])} (${f(fps['in-process'] / limit, 2)}), isolated ${f(fps.process)} (${f(fps.process / limit, 2)})`);
  }
  const multi: { mode: Mode; streams: number; run: Run }[] = [];
  for (const n of [1, manyStreams]) {
    for (const mode of MODES) {
      log(`${n} camera streams at ${streamFps} fps, ${mode}`);
      multi.push({ mode, streams: n, run: await scenario(cameras(n, mode)) });
    }
  }
  log(`SIGSEGV × ${kills}`);
  const crash = await crashes();

  const median = (mode: Mode): number => pct(roundsOut.map((x) => x.ratio[mode]), 50);
  process.stdout.write(`\nProcess isolation, ${path.basename(args.model)}, clip ${path.basename(args.clip)}; CPU provider, 1 intra-op thread\n`);
  process.stdout.write('\nOne stream as fast as it goes (ratio = analysed fps / the inference limit measured just before and after the round)\n');
  process.stdout.write('round  limit fps  in-process fps (ratio, tree cpu %, model busy, wait ms)  isolated fps (ratio, tree cpu %, model busy, wait ms)  isolated / in-process\n');
  const cell = (x: (typeof roundsOut)[number], m: Mode): string => `${f(x.fps[m])} (${f(x.ratio[m], 2)}, ${f(x.cpu[m], 0)}, ${f(x.busy[m], 2)}, ${f(x.wait[m], 1)})`;
  roundsOut.forEach((x, i) => process.stdout.write(`${i + 1}      ${f(x.limit).padEnd(9)}  ${cell(x, 'in-process').padEnd(54)}  ${cell(x, 'process').padEnd(52)}  ${f(x.fps.process / x.fps['in-process'], 2)}\n`));
  process.stdout.write(`median ratio: in-process ${f(median('in-process'), 2)}, isolated ${f(median('process'), 2)}; isolated / in-process ${f(pct(roundsOut.map((x) => x.fps.process / x.fps['in-process']), 50), 2)}\n`);
  process.stdout.write(`\nCamera streams (clip looped in real time at ${streamFps} fps; memory = PSS of vigild and its stream processes, median over the window)\n`);
  process.stdout.write('mode        N  processes  fps/stream min  tree cpu %  PSS MiB  of which stream processes\n');
  for (const m of multi) {
    const fps = m.run.result.streams.map((s) => s.inferredFps);
    process.stdout.write(`${m.mode.padEnd(10)}  ${String(m.streams).padEnd(2)} ${String(m.run.processes).padEnd(10)} ${f(Math.min(...fps)).padEnd(15)} ${f(m.run.treeCpuPercent, 0).padEnd(11)} ${f(m.run.pssMiB, 0).padEnd(8)} ${f(m.run.childrenPssMiB, 0)}\n`);
  }
  const perStream: Record<Mode, number> = { 'in-process': NaN, process: NaN };
  for (const mode of MODES) {
    const runs = multi.filter((m) => m.mode === mode);
    const [lo, hi] = [runs[0], runs.at(-1)];
    if (lo && hi && hi.streams > lo.streams) perStream[mode] = (hi.run.pssMiB - lo.run.pssMiB) / (hi.streams - lo.streams);
  }
  process.stdout.write(`memory per added stream (PSS): in-process ${f(perStream['in-process'])} MiB, isolated ${f(perStream.process)} MiB\n`);
  process.stdout.write(`\nSIGSEGV of an isolated stream's process × ${crash.restartMs.length} (backoff minimum 100 ms): kill → that stream's next frame p50 ${f(pct(crash.restartMs, 50), 0)} ms, max ${f(Math.max(...crash.restartMs), 0)} ms; `
    + `the other isolated stream: ${crash.otherFrames} frames, largest gap ${f(crash.otherMaxGapMs, 0)} ms at ${streamFps} fps\n`);
  await writeFile(args.out, JSON.stringify({ when: new Date().toISOString(), model: args.model, clip: args.clip, rounds: roundsOut, multi: multi.map((m) => ({ mode: m.mode, streams: m.streams, pssMiB: m.run.pssMiB, childrenPssMiB: m.run.childrenPssMiB, treeCpuPercent: m.run.treeCpuPercent, processes: m.run.processes, result: m.run.result })), perStream, crash }, null, 2));
  process.stdout.write(`\nresults: ${args.out}\n`);
} finally {
  await ctx.cleanup();
}
process.exit(0);
