/**
 * `node dist/scripts/bench-console.js`: what the web console costs the analysis, on a real vigild.
 *
 * One vigild (child process, the built launcher) analyses a looped clip as fast as the machine
 * allows (stream fps above what inference sustains), so that any CPU the console takes shows up as
 * fewer analysed frames. Phases of equal length, in one run, alternate so that drift of the
 * machine (other processes, thermal) spreads over all of them:
 *   idle           no console traffic
 *   slow flood     200 slow connections (headers trickled, re-opened when the server drops them),
 *                  while a logged-in user's requests are timed (do they still get through?)
 *   request flood  8 clients back to back: a login-guessing loop and authenticated API requests
 *                  (all from one address: most get 429 from console.requests_per_second)
 *   live 1, live 4 viewers of the live view (WebSocket, fragmented MP4 of the camera's own stream)
 *   jpeg 1         one viewer polling snapshot.jpg (max_width 640) and the overlay at 2 Hz (the fallback)
 * The analysed fps of each phase comes from the daemon's own counter (status over its socket).
 * Also measured: request latency (p50/p95) of /api/me, /api/rpc status and a snapshot with no other
 * traffic, and vigild's RSS with the console enabled against a second run with it disabled.
 *
 *   node dist/scripts/bench-console.js [--seconds 10] [--rounds 2] [--model models/nanodet-m.json] [--clip FILE] [--fps 60] [--out FILE]
 *   --fps: the stream's analysis rate; the default (60) is above what a small machine sustains, so the
 *          analysis runs flat out and feels any CPU taken from it; a camera-like rate (5-10) shows the
 *          cost on a device that keeps up.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { call as controlCall } from '../cli/control-client.js';
import { spawnDaemon, writeConfig, type Daemon } from '../test/e2e/daemon-harness.js';
import { call, login, PASSWORD, type Client } from '../test/console/console-fixture.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { repoRoot, sharedPath, tempDir, waitFor } from '../test/helpers/shared.js';
import { ScriptContext } from './script-context.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    model: { type: 'string', default: path.join(repoRoot, 'models', 'nanodet-m.json') },
    clip: { type: 'string', default: sharedPath('video', 'pedestrians.mp4') },
    slow: { type: 'string', default: '200' },
    fps: { type: 'string', default: '60' },
    out: { type: 'string', default: path.join(tmpdir(), 'vigil-bench-console.json') },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const SLOW = Number(args.slow);

const ctx = new ScriptContext();
const t = { after: (fn: () => Promise<void> | void) => ctx.after(fn), diagnostic: () => undefined };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Running { daemon: Daemon; socket: string; port: number | null; stateDir: string }

async function startVigild(consoleOn: boolean): Promise<Running> {
  const dir = await tempDir(t, 'vigil-bench-console-');
  const broker = await startMosquitto(t);
  const stateDir = path.join(dir, 'state');
  const socket = path.join(dir, 'vigild.sock');
  if (consoleOn) {
    await new Promise<void>((resolve, reject) => {
      const child = execFile(process.execPath, [path.join(repoRoot, 'dist', 'cli', 'main.js'), 'console', 'adduser', 'bench', '--role', 'admin',
        '--password-stdin', '--state-dir', stateDir], (err) => (err ? reject(new Error(`vigilctl console adduser: ${err.message}`)) : resolve()));
      child.stdin?.end(`${PASSWORD}\n`);
    });
  }
  const config = await writeConfig(dir, {
    device: { id: 'bench', site: 'lab' }, storage: { dir: stateDir }, mqtt: { url: broker.url },
    models_dir: sharedPath('models'), models: [{ name: 'det', manifest: args.model }],
    streams: [{ id: 'cam', uri: `file://${args.clip}`, loop: true, fps: Number(args.fps), model: 'det' }],
    rules: [{ id: 'people', stream: 'cam', kind: 'presence', classes: ['person'], min_score: 0.4, cooldown_s: 5 }],
    telemetry: { interval_s: 60, prometheus: { enabled: false } },
    console: { enabled: consoleOn, listen: '127.0.0.1:0' },
  });
  const daemon = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  let port: number | null = null;
  if (consoleOn) {
    const line = await daemon.waitForLine('console listening', (l) => l.msg === 'console listening', 60_000);
    port = Number(new URL(String(line['url'])).port);
  }
  await daemon.waitForLine('vigild running', (l) => l.msg === 'vigild running', 60_000);
  await waitFor('frames analysed', async () => ((await analysed(socket)) > 20 ? true : undefined), 60_000, 500);
  return { daemon, socket, port, stateDir };
}

async function analysed(socket: string): Promise<number> {
  const s = await controlCall(socket, { method: 'status' });
  return s.streams.reduce((n, st) => n + st.analysis.framesAnalysed, 0);
}

async function rss(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** CPU time vigild has used (user + system), seconds: /proc/PID/stat in clock ticks (100 a second on Linux). */
async function cpuSeconds(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Analysed frames per second over `SECONDS` while `load` runs, and vigild's CPU (percent of one
 * core) meanwhile: the second does not depend on what else the machine runs, the first does.
 */
async function phase(socket: string, pid: number, load: (() => () => Promise<void>) | null): Promise<{ fps: number; cpu: number }> {
  const stop = load?.() ?? null;
  await sleep(1000);
  const a = await analysed(socket);
  const c0 = await cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const b = await analysed(socket);
  const c1 = await cpuSeconds(pid);
  const s = (performance.now() - t0) / 1000;
  await stop?.();
  return { fps: (b - a) / s, cpu: ((c1 - c0) / s) * 100 };
}

/** Slow connections: each sends a header line every 2 s and never finishes; dropped ones are opened again. */
function slowConnections(port: number, n: number): () => Promise<void> {
  let running = true;
  const sockets = new Set<net.Socket>();
  let dropped = 0;
  const open = (): void => {
    if (!running) return;
    const s = net.connect(port, '127.0.0.1');
    sockets.add(s);
    s.on('connect', () => s.write('GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
    const timer = setInterval(() => s.write(`X-Slow-${Math.random().toString(36).slice(2)}: 1\r\n`), 2000);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearInterval(timer);
      sockets.delete(s);
      dropped += 1;
      // Re-opened after a pause, as a patient attacker would; not a tight reconnect loop of our own making.
      if (running) setTimeout(open, 250);
    });
  };
  for (let i = 0; i < n; i++) open();
  return () => {
    running = false;
    for (const s of sockets) s.destroy();
    stats.slowDropped += dropped;
    return Promise.resolve();
  };
}

/** A user's requests once a second during a flood: how many get through, and how fast. */
function probe(admin: Client): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const r = await admin.get('/api/me');
        if (r.status === 200) stats.probeOk.push(performance.now() - t0);
        else stats.probeFailed += 1;
      } catch {
        stats.probeFailed += 1;
      }
      await sleep(1000);
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

/** Live viewers: each a WebSocket taking the fragmented MP4 and the overlays. */
function liveViewers(port: number, admin: Client, n: number): () => Promise<void> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/live`, { headers: { cookie: admin.cookie, origin: `http://127.0.0.1:${port}` } });
    ws.on('open', () => ws.send(JSON.stringify({ stream: 'cam' })));
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (binary) {
        stats.liveBytes += data.length;
        if (data.toString('latin1', 4, 8) === 'moof') stats.liveFrames += 1;
      }
    });
    ws.on('error', () => { stats.floodErrors += 1; });
    sockets.push(ws);
  }
  return async () => {
    await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => {
      if (ws.readyState === ws.CLOSED) return resolve();
      ws.once('close', () => resolve());
      ws.close();
    })));
  };
}

/** Clients sending requests back to back: authenticated reads, and wrong-password logins (throttled). */
function requestFlood(port: number, admin: Client, clients: number): () => Promise<void> {
  let running = true;
  const loops: Promise<void>[] = [];
  for (let i = 0; i < clients; i++) {
    loops.push((async () => {
      while (running) {
        try {
          const r = i === 0
            ? await call(port, 'POST', '/api/login', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'bench', password: 'not the password' }) })
            : i % 2 === 0 ? await admin.rpc('status') : await admin.get('/api/me');
          stats.floodRequests += 1;
          if (r.status === 429) stats.flood429 += 1;
        } catch {
          stats.floodErrors += 1;
          await sleep(50);
        }
      }
    })());
  }
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

/** `n` viewers, each polling a snapshot and the overlay at 2 Hz. */
function viewers(admin: Client, n: number): () => Promise<void> {
  let running = true;
  const loops: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    loops.push((async () => {
      while (running) {
        const t0 = performance.now();
        try {
          const r = await admin.get('/api/streams/cam/snapshot.jpg?max_width=640');
          if (r.status === 200) stats.viewerFrames += 1;
          await admin.get('/api/streams/cam/overlay');
        } catch {
          stats.floodErrors += 1;
        }
        await sleep(Math.max(0, 500 - (performance.now() - t0)));
      }
    })());
  }
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

const stats = { floodRequests: 0, flood429: 0, floodErrors: 0, slowDropped: 0, viewerFrames: 0, probeOk: [] as number[], probeFailed: 0, liveFrames: 0, liveBytes: 0 };

async function latency(label: string, n: number, fn: () => Promise<{ status: number }>): Promise<{ label: string; p50: number; p95: number; n: number }> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await fn();
    if (r.status !== 200) throw new Error(`${label}: HTTP ${r.status}`);
    ms.push(performance.now() - t0);
    // 40 a second: below console.requests_per_second, as a page's own requests are.
    await sleep(25);
  }
  ms.sort((a, b) => a - b);
  const q = (p: number): number => Math.round((ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] ?? 0) * 100) / 100;
  return { label, p50: q(0.5), p95: q(0.95), n };
}

async function main(): Promise<void> {
  const off = await startVigild(false);
  await sleep(3000);
  const rssOff = await rss(off.daemon.child.pid ?? 0);
  const offPhase = await phase(off.socket, off.daemon.child.pid ?? 0, null);
  await off.daemon.stop();

  const on = await startVigild(true);
  const port = on.port ?? 0;
  await sleep(3000);
  const rssOnIdle = await rss(on.daemon.child.pid ?? 0);
  const admin = await login(port, 'bench', PASSWORD);
  const lat = [
    await latency('GET /api/me', 200, () => admin.get('/api/me')),
    await latency('POST /api/rpc status', 200, () => admin.rpc('status')),
    await latency('GET /api/streams/cam/overlay', 100, () => admin.get('/api/streams/cam/overlay')),
    await latency('GET snapshot.jpg (full size)', 20, async () => {
      await sleep(300); // past the 250 ms sharing window: each one encoded
      return admin.get('/api/streams/cam/snapshot.jpg');
    }),
  ];
  const phases: Record<string, { fps: number; cpu: number }[]> = { idle: [], 'slow flood': [], 'request flood': [], 'live 1': [], 'live 4': [], 'jpeg 1': [] };
  const rssAfter: { phase: string; mib: number }[] = [];
  const run = async (name: string, load: (() => () => Promise<void>) | null): Promise<void> => {
    phases[name]?.push(await phase(on.socket, on.daemon.child.pid ?? 0, load));
    rssAfter.push({ phase: name, mib: mib(await rss(on.daemon.child.pid ?? 0)) });
  };
  for (let r = 0; r < ROUNDS; r++) {
    await run('idle', null);
    await run('slow flood', () => {
      const a = slowConnections(port, SLOW);
      const b = probe(admin);
      return async () => { await a(); await b(); };
    });
    await run('request flood', () => requestFlood(port, admin, 8));
    await run('live 1', () => liveViewers(port, admin, 1));
    await run('idle', null);
    await run('live 4', () => liveViewers(port, admin, 4));
    await run('jpeg 1', () => viewers(admin, 1));
  }
  await run('idle', null);
  const rssOnAfter = await rss(on.daemon.child.pid ?? 0);
  // The console still answers after all that.
  const me = await admin.get('/api/me');
  await on.daemon.stop();

  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const idle = mean((phases['idle'] ?? []).map((p) => p.fps));
  const idleCpu = mean((phases['idle'] ?? []).map((p) => p.cpu));
  const result = {
    machine: { cpus: (await import('node:os')).cpus().length, model: args.model, clip: args.clip, stream_fps: Number(args.fps), seconds_per_phase: SECONDS, rounds: ROUNDS },
    console_disabled: { fps: round(offPhase.fps), cpu_percent: round(offPhase.cpu) },
    phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => {
      const fps = v.map((p) => p.fps);
      const cpu = v.map((p) => p.cpu);
      return [k, {
        fps: fps.map((x) => round(x)), fps_mean: round(mean(fps)), fps_vs_idle: round(mean(fps) / idle, 3),
        cpu_percent: cpu.map((x) => round(x)), cpu_mean: round(mean(cpu)), cpu_vs_idle: round(mean(cpu) - idleCpu),
      }];
    })),
    slow_flood: {
      slow_connections: SLOW, dropped_by_server: stats.slowDropped,
      user_requests_ok: stats.probeOk.length, user_requests_failed: stats.probeFailed,
      user_request_ms_max: round(Math.max(0, ...stats.probeOk)),
    },
    request_flood: { requests: stats.floodRequests, refused_429: stats.flood429, errors: stats.floodErrors },
    live_frames_received: stats.liveFrames, live_mib_received: mib(stats.liveBytes),
    jpeg_frames_received: stats.viewerFrames,
    latency_ms: lat,
    rss_mib: { console_disabled: mib(rssOff), console_enabled_idle: mib(rssOnIdle), delta_idle: mib(rssOnIdle - rssOff), console_enabled_after_load: mib(rssOnAfter) },
    rss_after_each_phase_mib: rssAfter.map((r) => `${r.phase}: ${r.mib}`),
    console_answers_after: me.status,
  };
  await writeFile(args.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\nwritten to ${args.out}\n`);
}

const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;
const mib = (b: number): number => round(b / 1024 / 1024, 1);

try {
  await main();
} finally {
  await ctx.cleanup();
}
