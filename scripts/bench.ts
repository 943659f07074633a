/**
 * `npm run bench`: one stream of a real clip through the whole daemon (video → motion → inference →
 * rules → SQLite → MQTT), for each detector, next to the two limits measured in the same run on the
 * same input: GStreamer decode + scale alone, and inference alone. Vigil's analysed frames/s is
 * reported as a ratio of the lower limit, because absolute figures on a shared machine mean little.
 *
 *   npm run bench -- [--clip FILE] [--models a.json,b.json] [--models-dir DIR] [--seconds N] [--out results.json]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const shared = process.env['VIGIL_SHARED_DIR'] ?? path.resolve(repo, '..', 'shared');

const { values: args } = parseArgs({
  options: {
    clip: { type: 'string', default: path.join(shared, 'video', 'pedestrians.mp4') },
    models: { type: 'string', default: ['nanodet-m', 'yolox-nano'].map((m) => path.join(repo, 'models', `${m}.json`)).join(',') },
    'models-dir': { type: 'string', default: path.join(shared, 'models') },
    out: { type: 'string', default: path.join(tmpdir(), 'vigil-bench.json') },
    'infer-runs': { type: 'string', default: '60' },
    seconds: { type: 'string', default: '10' },
  },
});
// Set before anything uses the libuv pool: one stream (pull + bus poll) plus inference.
process.env['UV_THREADPOOL_SIZE'] ??= '8';

const { loadDetector } = await import('../daemon/inference/detector.js');
const { App } = await import('../daemon/app.js');
const { validateConfig } = await import('../daemon/config/load.js');
const { EmbeddedBroker } = await import('../daemon/demo/embedded-broker.js');
const { silentLogger } = await import('../daemon/log.js');
const { VideoStream } = await import('../daemon/video/stream.js');
const { streamSchema } = await import('../daemon/config/schema.js');

interface Row {
  model: string;
  provider: string;
  decodeLimitFps: number;
  inferenceLimitFps: number;
  inferenceMsP50: number;
  inferenceMsP95: number;
  vigilFps: number;
  ratio: number;
  framesAnalysed: number;
  events: number;
  cpuPercent: number;
  rssMiB: number;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

/** GStreamer alone: the same decode → scale → BGRx chain the daemon builds, into a fakesink. */
async function decodeLimit(clip: string, width: number, height: number): Promise<number> {
  const caps = `video/x-raw,format=BGRx,width=[1,${width}],height=[1,${height}],pixel-aspect-ratio=1/1`;
  const chain = ['filesrc', `location=${clip}`, '!', 'parsebin', '!', 'avdec_h264', '!', 'videoscale', '!', 'videoconvert', '!', caps];
  const counted = await execFileAsync('gst-launch-1.0', ['-v', ...chain, '!', 'identity', 'silent=false', '!', 'fakesink', 'sync=false'],
    { maxBuffer: 64 * 1024 * 1024 });
  const frames = counted.stdout.split('\n').filter((l) => l.includes('last-message = chain')).length;
  const started = performance.now();
  await execFileAsync('gst-launch-1.0', ['-q', ...chain, '!', 'fakesink', 'sync=false']);
  return frames / ((performance.now() - started) / 1000);
}

/** A real frame of the clip, as the daemon would hand it to the detector. */
async function oneFrame(clip: string, width: number, height: number): Promise<import('../daemon/video/frame.js').Frame> {
  const stream = new VideoStream(streamSchema.parse({ id: 'bench-frame', uri: `file://${clip}`, realtime: false, fps: 30 }),
    { log: silentLogger(), analysis: { width, height, resize: 'fit', format: 'BGRx' } });
  await stream.start(new AbortController().signal);
  try {
    for (let i = 0; i < 10; i++) await stream.next(); // past the first, often simpler, frames
    const f = await stream.next();
    if (!f) throw new Error(`no frame from ${clip}`);
    return f;
  } finally {
    await stream.stop();
  }
}

async function benchModel(manifest: string): Promise<Row> {
  const log = silentLogger();
  const detector = await loadDetector({ name: 'bench', manifestPath: manifest, modelsDir: args['models-dir'], providers: ['tensorrt', 'cuda', 'cpu'], threads: 1 }, log);
  const size = detector.inputSize();
  const frame = await oneFrame(args.clip, size.width, size.height);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) await detector.detect(frame);
  const runs = Number(args['infer-runs']);
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await detector.detect(frame);
    times.push(performance.now() - t0);
  }
  const provider = detector.info.provider;
  await detector.close();
  const inferenceLimitFps = 1000 / (times.reduce((a, b) => a + b, 0) / times.length);
  const decodeLimitFps = await decodeLimit(args.clip, size.width, size.height);

  const dir = await mkdtemp(path.join(tmpdir(), 'vigil-bench-'));
  const broker = new EmbeddedBroker();
  const url = await broker.start();
  const cfg = validateConfig({
    device: { id: 'bench', site: 'lab' }, storage: { dir }, mqtt: { url }, models_dir: args['models-dir'],
    models: [{ name: 'm', manifest }], inference: { threads: 1 },
    control: { enabled: false },
    streams: [{ id: 'clip', uri: `file://${args.clip}`, model: 'm', fps: 120, realtime: false, loop: true }],
    rules: [{ id: 'people', stream: 'clip', kind: 'presence', classes: ['person'], cooldown_s: 0 }],
  }, 'bench');
  const app = new App(cfg, log, { protocolVersion: broker.protocolVersion, statsIntervalMs: 0 });
  await app.start(new AbortController().signal);
  const analysed = (): number => app.status().streams[0]?.analysis.framesAnalysed ?? 0;
  // Measure a steady window: after the model's first runs, over a looping clip.
  while (analysed() < 5) await new Promise((r) => setTimeout(r, 50));
  const n0 = analysed();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let rss = 0;
  while (performance.now() - t0 < Number(args.seconds) * 1000) {
    rss = Math.max(rss, process.memoryUsage().rss);
    await new Promise((r) => setTimeout(r, 100));
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const st = app.status().streams[0];
  const framesAnalysed = analysed() - n0;
  await app.stop();
  await broker.stop();
  await rm(dir, { recursive: true, force: true });
  const vigilFps = framesAnalysed / elapsed;
  return {
    model: path.basename(manifest, '.json'), provider, decodeLimitFps, inferenceLimitFps,
    inferenceMsP50: pct(times, 50), inferenceMsP95: pct(times, 95), vigilFps,
    ratio: vigilFps / Math.min(decodeLimitFps, inferenceLimitFps), framesAnalysed, events: st?.analysis.events ?? 0,
    cpuPercent: (100 * (cpu.user + cpu.system)) / 1e6 / elapsed, rssMiB: rss / 2 ** 20,
  };
}

const rows: Row[] = [];
for (const manifest of args.models.split(',')) rows.push(await benchModel(manifest));

const f = (n: number, d = 1): string => n.toFixed(d);
const header = ['model', 'provider', 'decode+scale fps', 'inference fps', 'infer ms p50/p95', 'vigil fps', 'ratio', 'analysed', 'events', 'cpu %', 'rss MiB'];
const table = [header, ...rows.map((r) => [r.model, r.provider, f(r.decodeLimitFps), f(r.inferenceLimitFps),
  `${f(r.inferenceMsP50)}/${f(r.inferenceMsP95)}`, f(r.vigilFps), f(r.ratio, 2), String(r.framesAnalysed), String(r.events),
  f(r.cpuPercent, 0), f(r.rssMiB, 0)])];
const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]?.length ?? 0)));
process.stdout.write(`clip ${args.clip}, one stream, realtime=false (ratio = vigil fps / min(decode, inference))\n`);
for (const row of table) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}\n`);
await writeFile(args.out, JSON.stringify({ clip: args.clip, when: new Date().toISOString(), rows }, null, 2));
process.stdout.write(`results: ${args.out}\n`);
process.exit(0);
