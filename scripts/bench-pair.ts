/**
 * Hot-standby pair benchmark (docs/fault-tolerance.md): two real vigild, each in its own network
 * namespace (test/pair/netns.ts: a veth LAN cable and an uplink each to a real mosquitto), the dog
 * clip at 4 analysed frames per second with a presence alert on every frame. For each standby
 * mode it measures the standby's and the active's CPU and RSS over a quiet period, then SIGKILLs
 * the active `--kills` times (the killed one restarted as standby each time, hand_back: stay) and
 * prints p50/p99 of kill → takeover audit record at the hub and kill → first alert of the new
 * active at the hub. Needs root (namespaces).
 *
 *   node dist/scripts/bench-pair.js [--kills 20] [--modes warm,cold] [--load-s 10] [--out FILE]
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { connectAsync } from 'mqtt';
import { makeDogClip, spawnDaemon, type Daemon, type LogLine } from '../test/e2e/daemon-harness.js';
import { cpuSeconds, rssMb } from '../test/helpers/proc-stats.js';
import { dogCameraDevice, writePairConfigs } from '../test/pair/pair-config.js';
import { startMosquitto } from '../test/helpers/mosquitto.js';
import { tempDir, waitFor } from '../test/helpers/shared.js';
import { vigilctl } from '../test/helpers/vigilctl.js';
import { createPairNetwork } from '../test/pair/netns.js';
import { ScriptContext } from './script-context.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    modes: { type: 'string', default: 'warm,cold' },
    'load-s': { type: 'string', default: '10' },
    out: { type: 'string', default: '/tmp/vigil-bench-pair.json' },
  },
});
const KILLS = Number(values.kills);
const LOAD_S = Number(values['load-s']);
const MODES = values.modes.split(',');
for (const m of MODES) if (m !== 'warm' && m !== 'cold') throw new Error(`--modes: expected warm and/or cold, got ${m}`);
if (!Number.isInteger(KILLS) || KILLS < 1) throw new Error(`--kills: expected a positive integer, got ${values.kills}`);

const SITE = 'yard';
const isActive = (l: LogLine): boolean => l.msg === 'pair: this device is now active';

const ctx = new ScriptContext();
// The test helpers' context: cleanups run in reverse order, so the daemons stop before their directories go.
const t = { after: (fn: () => Promise<void> | void) => ctx.after(fn), diagnostic: (m: string) => process.stderr.write(`${m}\n`) };

/** Nearest rank. */
function pct(values: readonly number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

interface ModeResult {
  mode: string;
  load: { seconds: number; active: { cpuPct: number; rssMb: number }; standby: { cpuPct: number; rssMb: number } };
  takeoverMs: number[];
  firstAlertMs: number[];
  /** Kill → the new active's log line (its clock): detection and the epoch's fsync. */
  detectMs: number[];
  summary: { detectP50: number; detectP99: number; takeoverP50: number; takeoverP99: number; takeoverMax: number; firstAlertP50: number; firstAlertP99: number; firstAlertMax: number };
}

async function runMode(mode: 'warm' | 'cold'): Promise<ModeResult> {
  const net = createPairNetwork(t);
  const dir = await tempDir(t, `vigil-bench-pair-${mode}-`);
  const clip = pathToFileURL(await makeDogClip(dir)).href;
  const broker = await startMosquitto(t, { listener: { lines: ['listener {port} 0.0.0.0', 'allow_anonymous true'], scheme: 'mqtt' } });
  const heard: { at: number; topic: string; json: Record<string, unknown> }[] = [];
  const hub = await connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 100 });
  ctx.after(() => hub.endAsync(true));
  hub.on('message', (topic, payload) => heard.push({ at: performance.now(), topic, json: JSON.parse(payload.toString()) as Record<string, unknown> }));
  await hub.subscribeAsync([`vigil/v1/${SITE}/+/alerts`, `vigil/v1/${SITE}/+/audit`], { qos: 1 });

  const sockets = { a: path.join(dir, 'a.sock'), b: path.join(dir, 'b.sock') };
  const files = await writePairConfigs(dir, (id, other) => ({
    ...dogCameraDevice(id, SITE, path.join(dir, id, 'state'), { url: `mqtt://${net.broker[id]}:${broker.port}`, reconnect_min_ms: 100, reconnect_max_ms: 1000 }, clip),
    pair: {
      enabled: true, key: 'bench-pair-key-0123456789abcdef', preferred: id === 'a', peer_device: other, mode,
      listen: `${net.lan[id]}:7420`, peer: `${net.lan[other]}:7420`, heartbeat_ms: 1000, misses: 3, hand_back: 'stay',
    },
  }));
  const start = (id: 'a' | 'b'): Daemon => spawnDaemon(t, ['--config', files[id]], { VIGIL_SOCKET: sockets[id] }, { netns: net.ns[id] });
  /** A standby ready for the next kill: it hears the active, and (warm) its pipeline plays. */
  const ready = (id: 'a' | 'b'): Promise<true> => waitFor(`${id} ready as standby`, async () => {
    const shown = await vigilctl(['status', '--json', '--socket', sockets[id]]);
    if (shown.code !== 0) throw new Error(`vigilctl status: ${shown.err}`);
    const s = JSON.parse(shown.out) as { streams: { state: string }[]; pair?: { role: string; peerHeardMsAgo: number | null } };
    const hears = s.pair?.role === 'standby' && s.pair.peerHeardMsAgo !== null && s.pair.peerHeardMsAgo < 1500;
    if (hears && (mode === 'cold' || s.streams.every((x) => x.state === 'playing'))) return true as const;
    // The last answer is what a timeout reports.
    throw new Error(`not ready: pair ${JSON.stringify(s.pair)}, streams ${JSON.stringify(s.streams.map((x) => x.state))}`);
  }, 60_000, 250);

  const daemons: Record<'a' | 'b', Daemon> = { a: start('a'), b: undefined as unknown as Daemon };
  await daemons.a.waitForLine('a\'s pair to start', (l) => l.msg === 'pair started as standby', 60_000);
  daemons.b = start('b');
  await daemons.a.waitForLine('a to become active', isActive, 60_000);
  await ready('b');
  await waitFor('alerts from a', () => (heard.filter((h) => h.topic.endsWith('/a/alerts')).length >= 4 ? true : undefined), 60_000);

  const pa = daemons.a.child.pid ?? 0;
  const pb = daemons.b.child.pid ?? 0;
  const c0 = { a: cpuSeconds(pa), b: cpuSeconds(pb), at: performance.now() };
  await new Promise((r) => setTimeout(r, LOAD_S * 1000));
  const secs = (performance.now() - c0.at) / 1000;
  const load = {
    seconds: Number(secs.toFixed(1)),
    active: { cpuPct: Number(((100 * (cpuSeconds(pa) - c0.a)) / secs).toFixed(1)), rssMb: Math.round(rssMb(pa)) },
    standby: { cpuPct: Number(((100 * (cpuSeconds(pb) - c0.b)) / secs).toFixed(1)), rssMb: Math.round(rssMb(pb)) },
  };
  process.stderr.write(`${mode}: load over ${load.seconds} s: active ${JSON.stringify(load.active)}, standby ${JSON.stringify(load.standby)}\n`);

  const takeoverMs: number[] = [];
  const firstAlertMs: number[] = [];
  const detectMs: number[] = [];
  let active: 'a' | 'b' = 'a';
  for (let k = 0; k < KILLS; k++) {
    const standby: 'a' | 'b' = active === 'a' ? 'b' : 'a';
    const from = daemons[standby].lines.length;
    const killedAt = performance.now();
    const killedWall = Date.now();
    daemons[active].child.kill('SIGKILL');
    await daemons[active].exited;
    const line = await daemons[standby].waitForLine(`${standby} to take over (kill ${k + 1})`, isActive, 30_000, from);
    const epoch = Number(line['epoch']);
    const audit = await waitFor('the takeover audit at the hub', () => heard.find((h) => h.at >= killedAt && h.topic.endsWith(`/${standby}/audit`)
      && h.json['method'] === 'pair.takeover'), 20_000);
    const alert = await waitFor('the new active\'s first alert', () => heard.find((h) => h.at >= killedAt && h.topic.endsWith(`/${standby}/alerts`)
      && h.json['pair_epoch'] === epoch), 30_000);
    takeoverMs.push(Math.round(audit.at - killedAt));
    // The new active's own log time: its detection and the epoch's fsync, without the way to the hub.
    detectMs.push(Date.parse(line.time) - killedWall);
    firstAlertMs.push(Math.round(alert.at - killedAt));
    process.stderr.write(`${mode} kill ${k + 1}: detected ${detectMs.at(-1)} ms, takeover at the hub ${takeoverMs.at(-1)} ms, first alert ${firstAlertMs.at(-1)} ms\n`);
    daemons[active] = start(active);
    await ready(active).catch((err: unknown) => {
      const tail = daemons[active].lines.slice(-8).map((l) => `${l.time} ${l.level} ${l.msg}`).join('\n');
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nlast lines of ${active}:\n${tail}\nstderr: ${daemons[active].stderr().slice(-500)}`);
    });
    active = standby;
  }
  for (const d of Object.values(daemons)) d.child.kill('SIGKILL');
  return {
    mode, load, takeoverMs, firstAlertMs, detectMs,
    summary: {
      detectP50: pct(detectMs, 50), detectP99: pct(detectMs, 99),
      takeoverP50: pct(takeoverMs, 50), takeoverP99: pct(takeoverMs, 99), takeoverMax: Math.max(...takeoverMs),
      firstAlertP50: pct(firstAlertMs, 50), firstAlertP99: pct(firstAlertMs, 99), firstAlertMax: Math.max(...firstAlertMs),
    },
  };
}

async function main(): Promise<void> {
  const results: ModeResult[] = [];
  for (const mode of MODES) {
    results.push(await runMode(mode as 'warm' | 'cold'));
    await ctx.cleanup();
  }
  const out = { kills: KILLS, loadavg: loadavg(), results };
  writeFileSync(values.out, JSON.stringify(out, null, 2));
  for (const r of results) {
    process.stdout.write(`${r.mode}: ${r.takeoverMs.length} kills; kill → detected p50 ${r.summary.detectP50} ms, p99 ${r.summary.detectP99} ms; kill → takeover at the hub p50 ${r.summary.takeoverP50} ms, p99 ${r.summary.takeoverP99} ms, max ${r.summary.takeoverMax} ms; `
      + `kill → first alert p50 ${r.summary.firstAlertP50} ms, p99 ${r.summary.firstAlertP99} ms, max ${r.summary.firstAlertMax} ms; `
      + `standby ${r.load.standby.cpuPct} % CPU ${r.load.standby.rssMb} MB, active ${r.load.active.cpuPct} % CPU ${r.load.active.rssMb} MB\n`);
  }
  process.stdout.write(`written to ${values.out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
}).finally(() => ctx.cleanup());
