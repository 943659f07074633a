import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { configSchema, streamSchema } from '../../daemon/config/schema.js';
import { silentLogger } from '../../daemon/log.js';
import type { AccessUnit } from '../../daemon/video/access-unit.js';
import type { Frame } from '../../daemon/video/frame.js';
import { isolatedDescriptions, sniffContainer } from '../../daemon/video/isolated-descriptions.js';
import { ProcessIsolation } from '../../daemon/video/isolated-pipeline.js';
import { parseHostLine } from '../../daemon/video/isolated-protocol.js';
import { STREAM_HOST_BINARY, StreamHost, type StreamProcess } from '../../daemon/video/isolated-server.js';
import { buildPipeline, type AnalysisSize } from '../../daemon/video/pipeline.js';
import type { VideoStream } from '../../daemon/video/stream.js';
import { makeClip } from '../helpers/media.js';
import { alive } from '../helpers/proc-stats.js';
import { startRtspServer } from '../helpers/rtsp-server.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { capturedLogger, startStream, streamConfig, takeFrames } from './fixtures.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const pedestrians = sharedPath('video', 'pedestrians.mp4');
const detector416: AnalysisSize = { width: 416, height: 416, resize: 'fit', format: 'BGRx' };

/** An isolation host whose children the test can see and signal. */
function isolation(log = silentLogger()): { host: ProcessIsolation; children: StreamProcess[] } {
  const children: StreamProcess[] = [];
  return { host: new ProcessIsolation({ log, onChild: (c) => children.push(c) }), children };
}

/** /dev/shm areas shmsink made for process `pid` ("shmpipe.%5d.%5d"). */
async function shmAreasOf(pid: number): Promise<string[]> {
  return (await readdir('/dev/shm')).filter((n) => Number(/^shmpipe\.\s*(\d+)\./.exec(n)?.[1]) === pid);
}

void test('config: video.isolation defaults to in-process, and a stream may override it', () => {
  const base = { device: { id: 'd', site: 's' }, mqtt: { url: 'mqtt://localhost' } };
  assert.equal(configSchema.parse(base).video.isolation, 'in-process');
  const cfg = configSchema.parse({ ...base, video: { isolation: 'process' }, streams: [{ id: 'a', uri: 'test://ball' }, { id: 'b', uri: 'test://ball', isolation: 'in-process' }] });
  assert.equal(cfg.video.isolation, 'process');
  assert.deepEqual(cfg.streams.map((s) => s.isolation), [undefined, 'in-process']);
  const bad = streamSchema.safeParse({ id: 'a', uri: 'test://ball', isolation: 'thread' });
  assert.equal(bad.success, false);
});

void test('descriptions: every sink crosses as gdppay ! shmsink, vigild reads each with a sink of the same name, credentials stay out', () => {
  const built = buildPipeline({
    source: { kind: 'rtsp', location: 'rtsp://cam/stream', user: 'viewer', password: 'top-secret' },
    decoder: { codec: 'h264', family: 'software', element: 'avdec_h264' },
    fps: 5, analysis: detector416, sync: true, rtsp: { transport: 'tcp', latencyMs: 200 }, accessUnits: true, fullFrames: true,
  });
  const d = isolatedDescriptions(built, detector416, '/run/x', null);
  assert.deepEqual(d.crossings.map((c) => c.sink).sort(), ['au', 'full', 'probe', 'sink']);
  assert.doesNotMatch(d.child, /appsink|fakesink/);
  assert.equal(d.child.match(/gdppay ! shmsink/g)?.length, 4);
  // The child paces live output as the in-process appsink would; vigild's sinks never wait on a clock.
  assert.match(d.child, /shmsink socket-path="\/run\/x\/sink" shm-size=\d+ wait-for-connection=true sync=true/);
  assert.match(d.parent, /shmsrc name=ipc_sink socket-path="\/run\/x\/sink" is-live=true ! gdpdepay ! appsink name=sink max-buffers=1 drop=true sync=false/);
  assert.match(d.parent, /gdpdepay ! fakesink name=probe enable-last-sample=true sync=false/);
  assert.match(d.parent, /gdpdepay ! appsink name=au /);
  assert.match(d.parent, /gdpdepay ! fakesink name=full enable-last-sample=true/);
  assert.ok(!`${d.child} ${d.parent}`.includes('top-secret'));
});

void test('containers are told apart by their first bytes', async () => {
  assert.equal(sniffContainer(await readFile(pedestrians)), 'mp4');
  assert.equal(sniffContainer(await readFile(sharedPath('video', 'pedestrians.h264'))), 'raw');
  assert.equal(sniffContainer(Buffer.from('not a video at all')), null);
});

void test('isolated: the same frames as in-process, with the source size, full-resolution frames and access units, from a child process', { timeout: 30_000 }, async (t) => {
  const uri = `file://${pedestrians}`;
  const inline = await startStream(t, streamConfig('inline', uri, { fps: 120, realtime: false }), { log: silentLogger(), analysis: detector416 });
  const { host, children } = isolation();
  const iso = await startStream(t, streamConfig('iso', uri, { fps: 120, realtime: false }), { log: silentLogger(), analysis: detector416, host, accessUnits: true });
  const aus: AccessUnit[] = [];
  iso.onAccessUnit((au) => aus.push(au));
  // Paced files hand out every decoded frame in order: the first ten must be the same bytes.
  const a = await takeFrames(inline, 10);
  const b = await takeFrames(iso, 10);
  for (let i = 0; i < 10; i++) {
    const [x, y] = [a[i], b[i]] as [Frame, Frame];
    assert.deepEqual([y.width, y.height, y.sourceWidth, y.sourceHeight, y.format], [416, 234, 960, 540, 'BGRx']);
    assert.ok(x.data.equals(y.data), `frame ${i} differs between in-process and isolated`);
  }
  const pid = host.pid;
  assert.ok(pid !== null && pid !== process.pid && children.length === 1 && alive(pid));
  const full = await waitFor('a full-resolution frame', () => iso.latestFullFrame() ?? undefined);
  assert.deepEqual([full.width, full.height, full.format], [960, 540, 'I420']);
  await waitFor('access units with a keyframe', () => (aus.some((au) => au.key) && aus.length > 5 ? true : undefined));
  assert.equal(aus[0]?.track.codecString.startsWith('avc1'), true);

  await iso.stop();
  await waitFor('the child to end after stop', () => (alive(pid) ? undefined : true), 5_000);
  assert.deepEqual(await shmAreasOf(pid), []);
});

void test('SIGSEGV in one isolated stream restarts that stream alone; the other stream\'s frames show no gap', { timeout: 30_000 }, async (t) => {
  const uri = `file://${pedestrians}`;
  const { log, lines } = capturedLogger('debug');
  const a = isolation(log);
  const b = isolation();
  const sa = await startStream(t, streamConfig('a', uri, { fps: 10, realtime: true }), { log, analysis: detector416, host: a.host });
  const sb = await startStream(t, streamConfig('b', uri, { fps: 10, realtime: true }), { log: silentLogger(), analysis: detector416, host: b.host });
  await takeFrames(sa, 3);
  await takeFrames(sb, 3);
  // B's consumer notes when each frame arrives, through A's crash and restart.
  const arrivals: number[] = [];
  let consuming = true;
  const consumer = (async (): Promise<void> => {
    while (consuming) {
      const f = await sb.next();
      if (f === null) return;
      arrivals.push(performance.now());
    }
  })();
  await waitFor('B to run alongside', () => (arrivals.length >= 3 ? true : undefined));
  const bRestarts = sb.status().restarts;
  const victim = await waitFor('A\'s current child', () => a.host.pid ?? undefined);
  const pulledBefore = sa.status().framesPulled;
  const killedAt = performance.now();
  process.kill(victim, 'SIGSEGV');
  await waitFor('A\'s child to be seen crashing', () => (a.host.stats.crashed === 1 ? true : undefined), 5_000);
  await waitFor('A to play again', () => (sa.status().state === 'playing' && sa.status().framesPulled > pulledBefore ? true : undefined), 10_000);
  const restartMs = performance.now() - killedAt;
  const afterRestart = arrivals.length;
  await waitFor('B to go on after A\'s restart', () => (arrivals.length >= afterRestart + 3 ? true : undefined));
  consuming = false;
  await consumer;

  const gaps = arrivals.slice(1).map((x, i) => x - (arrivals[i] ?? x));
  const worst = Math.max(...gaps);
  t.diagnostic(`A: killed → playing again in ${restartMs.toFixed(0)} ms (backoff min 100 ms); B: ${arrivals.length} frames, largest gap ${worst.toFixed(0)} ms at 10 fps`);
  assert.equal(sb.status().restarts, bRestarts);
  assert.ok(worst < 300, `B's frames stalled for ${worst.toFixed(0)} ms during A's crash`);
  assert.ok(sa.status().restarts >= 1);
  assert.equal(a.host.stats.crashed, 1);
  assert.notEqual(a.host.pid, victim);
  assert.ok(lines.some((l) => l.includes('stream process ended') && l.includes('SIGSEGV')));
  await waitFor('the crashed child\'s shared areas removed', async () => ((await shmAreasOf(victim)).length === 0 ? true : undefined), 5_000);
});

void test('isolated: a SIGSEGV right after a child\'s first frame is reported as that crash, ten times out of ten', { timeout: 60_000 }, async (t) => {
  // vigild's shmsrcs fail when their child dies and push an end of stream after their error; that
  // end was reported at once as "the shared-memory side ended", before the child's exit, in about
  // half the kills: the crash went uncounted and unlogged, and the stream's error named no signal.
  const { log, lines } = capturedLogger('debug');
  const { host } = isolation(log);
  const s = await startStream(t, streamConfig('early', `file://${pedestrians}`, { fps: 10, realtime: true, loop: true, restart_min_ms: 20, restart_max_ms: 40 }),
    { log, analysis: detector416, host });
  let previous: number | null = null;
  for (let i = 0; i < 10; i++) {
    // The current child's first frame: pulled after the previous one was replaced.
    const pulled = s.status().framesPulled;
    const pid = await waitFor(`child ${i + 1}'s first frame`, () => {
      const p = host.pid;
      return p !== null && p !== previous && s.status().state === 'playing' && s.status().framesPulled > pulled ? p : undefined;
    }, 10_000);
    assert.equal(s.status().process?.pid, pid, 'the stream\'s status names the process decoding it');
    process.kill(pid, 'SIGSEGV');
    await waitFor(`kill ${i + 1} reported as a crash`, () => (host.stats.crashed === i + 1 && host.pid !== pid ? true : undefined), 5_000);
    assert.match(s.status().lastError ?? '', new RegExp(`stream process ${pid} killed by SIGSEGV`));
    previous = pid;
  }
  assert.deepEqual({ crashed: s.status().process?.crashed, started: (s.status().process?.spawned ?? 0) >= 11 }, { crashed: 10, started: true });
  assert.equal(lines.filter((l) => l.includes('the shared-memory side ended')).length, 0);
  assert.equal(lines.filter((l) => l.includes('stream process ended') && l.includes('SIGSEGV')).length, 10);
});

void test('isolated: a stream host killed takes its stream process with it; the stream restarts on a new host', { timeout: 30_000 }, async (t) => {
  const server = new StreamHost(silentLogger());
  const host = new ProcessIsolation({ log: silentLogger(), server });
  const s = await startStream(t, streamConfig('orphan', `file://${pedestrians}`, { fps: 10, realtime: true, loop: true }), { log: silentLogger(), analysis: detector416, host });
  await takeFrames(s, 2);
  const [serverPid, child] = [server.pid, host.pid];
  assert.ok(serverPid !== null && child !== null);
  process.kill(serverPid, 'SIGKILL');
  // Dead or a zombie: the stream process is no longer the host's to reap.
  const running = (pid: number): boolean => {
    try {
      return !/^[ZX]$/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] ?? 'X');
    } catch {
      return false;
    }
  };
  await waitFor('the stream process to die with its host', () => (running(child) ? undefined : true), 5_000);
  await waitFor('a new host and stream process', () => (server.pid !== null && server.pid !== serverPid && host.pid !== null && host.pid !== child ? true : undefined), 10_000);
  const pulled = s.status().framesPulled;
  await waitFor('frames again', () => (s.status().framesPulled > pulled + 2 ? true : undefined), 10_000);
  assert.match(s.status().lastError ?? '', /ended with its stream host \(killed by SIGKILL\)/);
  await waitFor('the dead stream process\'s shared areas removed', async () => ((await shmAreasOf(child)).length === 0 ? true : undefined), 5_000);
});

void test('isolated: a file in a container the child cannot demux fails the stream with a clear error, and no child is spawned', { timeout: 15_000 }, async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'notes.bin');
  await writeFile(file, 'this is no video');
  const { host, children } = isolation();
  const s: VideoStream = await startStream(t, streamConfig('odd', `file://${file}`), { log: silentLogger(), host });
  const err = await waitFor('the stream to fail', () => s.status().lastError ?? undefined);
  assert.match(err, /process isolation: .*notes\.bin is not MP4/);
  assert.equal(children.length, 0);
  assert.equal(existsSync(file), true);
});

void test('isolated: ten crashes and restarts leave vigild\'s descriptors flat and no shared area, socket directory or process behind', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-iso-leak-');
  const children: StreamProcess[] = [];
  const host = new ProcessIsolation({ log: silentLogger(), dir, onChild: (c) => children.push(c) });
  const s = await startStream(t, streamConfig('flap', `file://${pedestrians}`, { fps: 10, loop: true, restart_min_ms: 10, restart_max_ms: 20 }),
    { log: silentLogger(), analysis: detector416, host, accessUnits: true });
  await takeFrames(s, 2);
  // vigild's side of each restart is a pipeline of shmsrcs, whose sockets the binding releases when
  // the pipeline's wrapper is collected (as for in-process pipelines: test/video/reconnect-leak.test.ts).
  const fds = async (): Promise<number> => {
    for (let i = 0; i < 2; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
    return (await readdir('/proc/self/fd')).length;
  };
  const before = await fds();
  for (let i = 0; i < 10; i++) {
    const pid = host.pid;
    assert.ok(pid !== null);
    const pulled = s.status().framesPulled;
    process.kill(pid, 'SIGSEGV');
    await waitFor(`restart ${i + 1}`, () => (host.pid !== pid && s.status().framesPulled > pulled + 1 ? true : undefined), 10_000);
  }
  const after = await fds();
  t.diagnostic(`descriptors ${before} → ${after} over 10 crashes`);
  assert.ok(after <= before + 2, `descriptors grew from ${before} to ${after}`);
  await s.stop();
  await waitFor('every child ended', () => (children.every((c) => c.exit !== null) ? true : undefined), 5_000);
  await waitFor('no socket directory left', async () => ((await readdir(dir)).length === 0 ? true : undefined), 5_000);
  for (const c of children) assert.deepEqual(await shmAreasOf(c.pid ?? -1), []);
});

void test('isolated RTSP camera: frames through the child, whose command line and environment hold no credentials', { timeout: 40_000 }, async (t) => {
  const server = await startRtspServer(pedestrians);
  t.after(() => server.kill());
  const { host } = isolation();
  const uri = server.url.replace('rtsp://', 'rtsp://viewer:top-secret@');
  const s = await startStream(t, streamConfig('cam', uri, { fps: 10, rtsp_latency_ms: 50 }), { log: silentLogger(), analysis: detector416, host });
  const [f] = await takeFrames(s, 3);
  assert.deepEqual([f?.width, f?.height, f?.sourceWidth, f?.sourceHeight], [416, 234, 960, 540]);
  const pid = host.pid;
  assert.ok(pid !== null);
  for (const file of ['cmdline', 'environ']) {
    assert.ok(!(await readFile(`/proc/${pid}/${file}`, 'latin1')).includes('top-secret'), `credentials in the child's ${file}`);
  }
});

void test('isolated, paced file: every frame arrives (back-pressure crosses the shared area) and the stream ends with the file', { timeout: 60_000 }, async (t) => {
  const { host } = isolation();
  const s = await startStream(t, streamConfig('all', `file://${pedestrians}`, { fps: 120, realtime: false }), { log: silentLogger(), analysis: detector416, host });
  let n = 0;
  for await (const f of s.frames()) {
    assert.equal(f.seq, n);
    n++;
  }
  // pedestrians.mp4 has 419 frames (test/video/stream.test.ts).
  assert.equal(n, 419);
  assert.equal(s.status().restarts, 0);
  assert.equal(s.status().state, 'ended');
  assert.equal(s.status().framesDropped, 0);
});

void test('isolated H.265 file: the child\'s error on the H.264 attempt reaches the same fallback, then every frame and the end', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const clip = await makeClip(dir, { codec: 'h265', frames: 60, width: 320, height: 240, source: { pattern: 'ball' } });
  const { host, children } = isolation();
  const s = await startStream(t, streamConfig('hevc', `file://${clip}`, { fps: 120, realtime: false }), { log: silentLogger(), analysis: detector416, host });
  let n = 0;
  for await (const f of s.frames()) {
    assert.deepEqual([f.sourceWidth, f.sourceHeight], [320, 240]);
    n++;
  }
  assert.equal(n, 60);
  assert.deepEqual([s.status().codec, s.status().decoder, s.status().state], ['h265', 'avdec_h265', 'ended']);
  // One child tried H.264 and failed to link, the second played H.265.
  assert.equal(children.length, 2);
});

void test('isolated: a camera that changes resolution mid-stream: the source size follows, through the probe branch that crosses too', { timeout: 60_000 }, async (t) => {
  // As resolution-change.test.ts: one scene encoded at two sizes of the same aspect, the Annex-B
  // streams concatenated, so both reach the analysis as the same fitted frame.
  const dir = await tempDir(t);
  const parts: Buffer[] = [];
  for (const [w, h] of [[960, 636], [640, 424]] as const) {
    const file = path.join(dir, `${w}.h264`);
    await promisify(execFile)('gst-launch-1.0', ['-q', 'filesrc', `location=${sharedPath('images', 'person.jpg')}`, '!', 'decodebin', '!',
      'imagefreeze', 'num-buffers=20', '!', 'videoconvert', '!', 'videoscale', '!', `video/x-raw,width=${w},height=${h},framerate=10/1`, '!',
      'videoconvert', '!', 'video/x-raw,format=I420', '!', 'x264enc', 'speed-preset=ultrafast', 'tune=zerolatency', 'key-int-max=10', '!',
      'h264parse', '!', 'video/x-h264,stream-format=byte-stream', '!', 'filesink', `location=${file}`], { timeout: 60_000 });
    parts.push(await readFile(file));
  }
  const clip = path.join(dir, 'two-sizes.h264');
  await writeFile(clip, Buffer.concat(parts));
  const { host } = isolation();
  const s = await startStream(t, streamConfig('resize', `file://${clip}`, { fps: 120, realtime: false }), { log: silentLogger(), analysis: detector416, host });
  const sizes: string[] = [];
  for await (const f of s.frames()) {
    assert.deepEqual([f.width, f.height], [416, 276]);
    const size = `${f.sourceWidth}x${f.sourceHeight}`;
    if (sizes.at(-1) !== size) sizes.push(size);
  }
  assert.deepEqual(sizes, ['960x636', '640x424']);
  assert.equal(s.status().resolutionChanges, 1);
});

void test('isolated, looping file: at each end of the clip the stream starts a new child and goes on', { timeout: 60_000 }, async (t) => {
  const children: StreamProcess[] = [];
  const host = new ProcessIsolation({ log: silentLogger(), loop: true, onChild: (c) => children.push(c) });
  const s = await startStream(t, streamConfig('loop', `file://${pedestrians}`, { fps: 120, realtime: false, loop: true }), { log: silentLogger(), analysis: detector416, host });
  // 419 frames a pass: two and a half passes.
  const frames = await takeFrames(s, 1000);
  assert.equal(frames.at(-1)?.seq, 999);
  assert.equal(s.status().restarts, 2);
  assert.equal(s.status().lastError, null);
  assert.equal(children.length, 3);
});

test('stream host: a start request cut short (a socket and the credentials missing) is answered with an error and an exit, so vigild does not wait on it for ever', async (t) => {
  const proc = spawn(STREAM_HOST_BINARY, [], { stdio: ['pipe', 'pipe', 'ignore'] });
  t.after(() => { proc.kill('SIGKILL'); });
  let out = '';
  proc.stdout.on('data', (b: Buffer) => { out += b.toString('utf8'); });
  const body = Buffer.from(['start', '7', 'fakesrc ! fakesink', '/nonexistent', '2', '/nonexistent/sink'].map((f) => `${f}\0`).join(''));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(body.length);
  proc.stdin.write(Buffer.concat([head, body]));
  const messages = (): ReturnType<typeof parseHostLine>[] => out.split('\n').map(parseHostLine);
  await waitFor('the exit of the refused start', () => (messages().some((m) => m?.type === 'exit' && m.id === 7) ? true : undefined), 5000, 20);
  assert.ok(messages().some((m) => m?.type === 'error' && m.id === 7 && /bad start request/.test(m.message)), out);
  assert.deepEqual(messages().find((m) => m?.type === 'exit'), { type: 'exit', id: 7, pid: 0, code: 1, signal: null });
  // The server goes on: its stdin's end still ends it cleanly.
  const ended = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  proc.stdin.end();
  assert.equal(await ended, 0);
});

test('stream host: a start request beyond the host\'s frame bound fails that stream alone, with the reason; the host and its other streams go on', async (t) => {
  const dir = await tempDir(t, 'vigil-host-bound-');
  const host = new StreamHost(silentLogger());
  const first = host.start({ description: 'fakesrc ! fakesink', dir, sockets: [], secrets: [] });
  t.after(() => first.signal('SIGKILL'));
  await waitFor('the first stream process to be forked', () => (first.pid !== null ? true : undefined), 10_000, 20);
  const hostPid = host.pid;
  const big = host.start({ description: `fakesrc ! fakesink name=${'x'.repeat(1 << 20)}`, dir, sockets: [], secrets: [] });
  const messages: string[] = [];
  big.onMessage((m) => { if (m.type === 'error') messages.push(m.message); });
  const ended = await new Promise<unknown>((resolve) => big.onExit(resolve));
  assert.deepEqual(ended, { code: 1, signal: null });
  assert.match(messages.join('\n'), /beyond the stream host's bound/);
  // A request the host cannot frame used to end the host, and with it every stream process.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(host.pid, hostPid);
  assert.equal(first.exit, null);
});
