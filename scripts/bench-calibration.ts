/**
 * What sampling INT8 calibration frames costs a running vigild's frame path: one stream of the
 * plaza clip analysed as fast as it goes (realtime off, looped; NanoDet-m on the CPU), its analysed
 * frame rate over windows without a job and with a calibration job sampling it, alternating, so a
 * neighbour's load lands on both; then fetching the frames over the socket (time, bytes) and
 * vigild's RSS while it holds them.
 *
 *   node dist/scripts/bench-calibration.js [--rounds 3] [--window 20] [--count 300] [--out FILE]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { call } from '../cli/control-client.js';
import { manifestPath, MODELS_DIR, spawnDaemon, writeConfig } from '../test/e2e/daemon-harness.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { sharedPath, tempDir, waitFor } from '../test/helpers/shared.js';
import { ScriptContext } from './script-context.js';

const { values: args } = parseArgs({ options: {
  rounds: { type: 'string', default: '3' },
  window: { type: 'string', default: '20' },
  count: { type: 'string', default: '300' },
  out: { type: 'string', default: path.join(tmpdir(), 'vigil-bench-calibration.json') },
} });
const rounds = Number(args.rounds);
const windowS = Number(args.window);
const count = Number(args.count);

interface Window { job: boolean; fps: number; inferredFps: number; rssMiB: number }

const ctx = Object.assign(new ScriptContext(), { diagnostic: (m: string): void => { process.stderr.write(`${m}\n`); } });
const log = (line: string): void => { process.stderr.write(`bench-calibration: ${line}\n`); };

async function rssMiB(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) / 1024;
}

try {
  const dir = await tempDir(ctx, 'vigil-bench-calibration-');
  const broker = await startMosquitto(ctx);
  const socket = path.join(dir, 'vigild.sock');
  const cfg = await writeConfig(dir, {
    device: { id: 'cam-b', site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
    models_dir: MODELS_DIR, models: [{ name: 'detector', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    control: { enabled: true, socket }, telemetry: { prometheus: { enabled: false } },
    streams: [{ id: 'plaza', uri: pathToFileURL(sharedPath('video', 'pedestrians.mp4')).href, model: 'detector', fps: 120, realtime: false, loop: true }],
  });
  const vigild = spawnDaemon(ctx, ['--config', cfg], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 60_000);
  const pid = vigild.child.pid ?? 0;
  const counts = async (): Promise<{ frames: number; inferences: number; at: number }> => {
    const line = (await call(socket, { method: 'status' })).streams.find((s) => s.id === 'plaza');
    return { frames: line?.analysis.framesAnalysed ?? 0, inferences: line?.analysis.inferences ?? 0, at: performance.now() };
  };
  await waitFor('plaza to be analysed', async () => ((await counts()).inferences > 50 ? true : undefined), 60_000, 200);

  const windows: Window[] = [];
  const fetches: { frames: number; bytes: number; ms: number; rssHeldMiB: number; rssAfterDropMiB: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const job of [false, true]) {
      const started = job ? await call(socket, { method: 'calibration.start', params: { streams: ['plaza'], count, duration_s: windowS } }) : null;
      const a = await counts();
      let rss = 0;
      // Sampled once a second: the peak is what a job adds while it fills.
      while (performance.now() - a.at < windowS * 1000) {
        rss = Math.max(rss, await rssMiB(pid));
        await new Promise((res) => setTimeout(res, 1000));
      }
      const b = await counts();
      const s = (b.at - a.at) / 1000;
      windows.push({ job, fps: (b.frames - a.frames) / s, inferredFps: (b.inferences - a.inferences) / s, rssMiB: rss });
      log(`round ${r + 1}, ${job ? 'sampling' : 'no job'}: ${((b.frames - a.frames) / s).toFixed(1)} fps analysed, RSS ${rss.toFixed(0)} MiB`);
      if (started === null) continue;
      const done = await waitFor('the job to end', async () => {
        const f = await call(socket, { method: 'calibration.fetch', params: { job: started.job, from: 0, max_bytes: 1 } });
        return f.state === 'done' ? f : undefined;
      }, 30_000, 200);
      const rssHeldMiB = await rssMiB(pid);
      const t0 = performance.now();
      let from = 0;
      let bytes = 0;
      while (from < (done.total ?? 0)) {
        const page = await call(socket, { method: 'calibration.fetch', params: { job: started.job, from, max_bytes: 700_000 } }, 30_000);
        bytes += page.frames.reduce((n, f) => n + f.data_base64.length, 0);
        from = page.next;
      }
      const ms = performance.now() - t0;
      await call(socket, { method: 'calibration.drop', params: { job: started.job } });
      fetches.push({ frames: done.total ?? 0, bytes, ms, rssHeldMiB, rssAfterDropMiB: await rssMiB(pid) });
      log(`  fetched ${done.total ?? 0} frames (${(bytes / 2 ** 20).toFixed(1)} MiB of base64) in ${ms.toFixed(0)} ms; RSS ${rssHeldMiB.toFixed(0)} MiB held`);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? NaN;
  const idle = windows.filter((w) => !w.job);
  const busy = windows.filter((w) => w.job);
  process.stdout.write(`\nINT8 calibration sampling against the frame path (plaza clip as fast as it goes, NanoDet-m, ${windowS} s windows, count ${count}):\n`
    + `  analysed fps without a job: ${idle.map((w) => w.fps.toFixed(1)).join(', ')} (median ${median(idle.map((w) => w.fps)).toFixed(1)})\n`
    + `  analysed fps while sampled: ${busy.map((w) => w.fps.toFixed(1)).join(', ')} (median ${median(busy.map((w) => w.fps)).toFixed(1)})\n`
    + `  ratio per pair: ${busy.map((w, i) => (w.fps / (idle[i]?.fps ?? NaN)).toFixed(2)).join(', ')}\n`
    + `  vigild RSS peak without / with a job: ${idle.map((w) => w.rssMiB.toFixed(0)).join(', ')} / ${busy.map((w) => w.rssMiB.toFixed(0)).join(', ')} MiB\n`
    + `  fetch: ${fetches.map((f) => `${f.frames} frames, ${(f.bytes / 2 ** 20).toFixed(1)} MiB base64 in ${(f.ms / 1000).toFixed(1)} s; RSS held ${f.rssHeldMiB.toFixed(0)}, after drop ${f.rssAfterDropMiB.toFixed(0)} MiB`).join('; ')}\n`);
  await writeFile(args.out, JSON.stringify({ windowS, count, windows, fetches }, null, 2));
  await vigild.stop();
} finally {
  await ctx.cleanup();
}
process.exit(0);
