/**
 * What event clips cost the analysis: the whole daemon (App: GStreamer, onnxruntime, rules, SQLite,
 * a real mosquitto) on 1 and on 4 camera-like streams (the plaza clip looped at its own 30 fps,
 * every frame asked for, so the analysis runs as fast as the machine lets it), once without clips
 * and once with a presence rule whose events each get a 10 s clip (pre-roll 5 s, post-roll 5 s,
 * a new event every `--every` seconds per stream, so several clips record at once). Rounds alternate
 * off/on so that drift of a shared machine falls on both. Snapshots are off in both runs.
 *
 *   node dist/scripts/bench-clips.js [--streams 1,4] [--seconds 10] [--rounds 2] [--every 2] [--model nanodet-m] [--out FILE]
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runWithDaemonSettings } from './daemon-settings.js';
import { ScriptContext } from './script-context.js';

// As scripts/bench.ts: the daemon's thread pool and malloc settings, read once at start.
await runWithDaemonSettings();
const { App } = await import('../daemon/app.js');
const { validateConfig } = await import('../daemon/config/load.js');
const { silentLogger } = await import('../daemon/log.js');
const { startMosquitto } = await import('../test/helpers/mosquitto.js');

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const shared = process.env['VIGIL_SHARED_DIR'] ?? path.resolve(repo, '..', 'shared');
const { values: args } = parseArgs({
  options: {
    streams: { type: 'string', default: '1,4' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    every: { type: 'string', default: '2' },
    model: { type: 'string', default: 'nanodet-m' },
    clip: { type: 'string', default: path.join(shared, 'video', 'pedestrians.mp4') },
    out: { type: 'string', default: path.join(tmpdir(), 'vigil-bench-clips.json') },
  },
});
const counts = args.streams.split(',').map(Number);
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const log = (line: string): void => { process.stderr.write(`bench-clips: ${line}\n`); };

interface Run {
  streams: number;
  clips: boolean;
  /** Inferred frames per second, all streams together, over the window. */
  fps: number;
  cpuPercent: number;
  clipsWritten: number;
  /** Bytes held by the rings at the end of the window, all streams. */
  ringBytes: number;
  /** Clip recording complete → file recorded, ms (p50/p95 of this run's clips). */
  completeP50: number | null;
  completeP95: number | null;
}

const ctx = new ScriptContext();
const broker = await startMosquitto(ctx);

async function run(n: number, clips: boolean): Promise<Run> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vigil-bench-clips-'));
  try {
    const ids = Array.from({ length: n }, (_, i) => `cam${i + 1}`);
    const cfg = validateConfig({
      device: { id: 'bench', site: 'lab' }, storage: { dir }, mqtt: { url: broker.url }, models_dir: path.join(shared, 'models'),
      models: [{ name: 'm', manifest: path.join(repo, 'models', `${args.model}.json`) }], inference: { threads: 1, providers: ['cpu'] },
      control: { enabled: false }, telemetry: { prometheus: { enabled: false } },
      // Snapshots only for critical events (none here), so that the difference is the clips alone.
      evidence: { severities: ['critical'], clips: { enabled: clips, severities: ['alert'], pre_roll_s: 5, post_roll_s: 5 } },
      streams: ids.map((id) => ({ id, uri: `file://${args.clip}`, model: 'm', fps: 30, realtime: true, loop: true })),
      rules: ids.map((id) => ({ id: `people-${id}`, stream: id, kind: 'presence', classes: ['person'], min_score: 0.3, cooldown_s: Number(args.every), severity: 'alert' })),
    }, 'bench-clips');
    const app = new App(cfg, silentLogger(), { statsIntervalMs: 0 });
    await app.start(new AbortController().signal);
    try {
      const analysed = (): number => app.status().streams.reduce((s, st) => s + st.analysis.inferences, 0);
      const deadline = Date.now() + 60_000;
      while (!app.status().streams.every((s) => s.analysis.inferences >= 3)) {
        if (Date.now() > deadline) throw new Error('streams did not start analysing within 60 s');
        await new Promise((r) => setTimeout(r, 50));
      }
      // Past the first clips' pre-roll: the rings are full and clips are recording when the window opens.
      await new Promise((r) => setTimeout(r, 6000));
      const f0 = analysed();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const s = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(c0);
      const fps = (analysed() - f0) / s;
      const st = app.status().tiers?.clips;
      return {
        streams: n, clips, fps, cpuPercent: (100 * (cpu.user + cpu.system)) / 1e6 / s, clipsWritten: st?.written ?? 0,
        ringBytes: st?.ringBytes ?? 0, completeP50: st?.completeMs?.p50 ?? null, completeP95: st?.completeMs?.p95 ?? null,
      };
    } finally {
      await app.stop();
    }
  } finally {
    const files = await readdir(path.join(dir, 'evidence')).catch(() => []);
    const bytes = (await Promise.all(files.map((f) => stat(path.join(dir, 'evidence', f)).then((x) => x.size)))).reduce((a, b) => a + b, 0);
    if (files.length > 0) log(`${files.length} evidence files, ${(bytes / 1048576).toFixed(1)} MiB`);
    await rm(dir, { recursive: true, force: true });
  }
}

const runs: Run[] = [];
try {
  for (const n of counts) {
    for (let r = 0; r < rounds; r++) {
      for (const clips of r % 2 === 0 ? [false, true] : [true, false]) {
        const x = await run(n, clips);
        log(`${n} stream(s), clips ${clips ? 'on ' : 'off'}: ${x.fps.toFixed(2)} inferred fps, CPU ${x.cpuPercent.toFixed(0)} %, ${x.clipsWritten} clips, rings ${(x.ringBytes / 1048576).toFixed(1)} MiB`);
        runs.push(x);
      }
    }
  }
} finally {
  await ctx.cleanup();
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const lines = ['| streams | fps without clips | fps with clips | change | CPU % off / on | clips written | rings (MiB) |', '| --- | --- | --- | --- | --- | --- | --- |'];
for (const n of counts) {
  const off = runs.filter((x) => x.streams === n && !x.clips);
  const on = runs.filter((x) => x.streams === n && x.clips);
  const a = mean(off.map((x) => x.fps));
  const b = mean(on.map((x) => x.fps));
  lines.push(`| ${n} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(((b - a) / a) * 100).toFixed(1)} % | ${mean(off.map((x) => x.cpuPercent)).toFixed(0)} / ${mean(on.map((x) => x.cpuPercent)).toFixed(0)} `
    + `| ${on.reduce((s, x) => s + x.clipsWritten, 0)} | ${(mean(on.map((x) => x.ringBytes)) / 1048576).toFixed(1)} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
await writeFile(args.out, JSON.stringify({ model: args.model, seconds, rounds, every: Number(args.every), runs }, null, 2));
log(`written ${args.out}`);
process.exit(0);
