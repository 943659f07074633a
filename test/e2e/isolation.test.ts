import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { alive } from '../helpers/proc-stats.js';
import { sharedPath, tempDir, waitFor } from '../helpers/shared.js';
import { vigilctl } from '../helpers/vigilctl.js';
import { spawnDaemon, writeConfig, type LogLine } from './daemon-harness.js';

/** Processes whose parent is `ppid` (and, with `cmd`, whose command line holds it). */
function childrenOf(ppid: number, cmd?: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
      if (parent === ppid && (cmd === undefined || readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(cmd))) out.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The isolated streams' processes: forked by vigild's stream host (daemon/video/child/stream-host.c). */
function streamProcesses(vigild: number): { host: number | undefined; streams: number[] } {
  const [host] = childrenOf(vigild, 'vigil-stream-host');
  return { host, streams: host === undefined ? [] : childrenOf(host) };
}

const playing = (id: string) => (l: LogLine): boolean => l['msg'] === 'stream playing' && l['stream'] === id;

void test('vigild with video.isolation: process: a SIGSEGV in one stream\'s process restarts that stream alone, and a killed vigild leaves no stream process behind', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'vigil-e2e-iso-');
  const clip = pathToFileURL(sharedPath('video', 'pedestrians.mp4')).href;
  const config = await writeConfig(dir, {
    device: { id: 'iso-1', site: 'lab' }, storage: { dir: `${dir}/state` },
    // No broker is needed for this: the uplink retries in the background.
    mqtt: { url: 'mqtt://127.0.0.1:1', reconnect_min_ms: 1000, reconnect_max_ms: 5000 },
    video: { isolation: 'process' },
    streams: [
      { id: 'a', uri: clip, fps: 10, loop: true, restart_min_ms: 100, restart_max_ms: 400 },
      { id: 'b', uri: clip, fps: 10, loop: true, isolation: 'in-process' },
    ],
    telemetry: { prometheus: { enabled: false } },
  });
  const socket = `${dir}/vigil.sock`;
  const vigild = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  await vigild.waitForLine('stream a playing', playing('a'));
  await vigild.waitForLine('stream b playing', playing('b'));
  const vigildPid = vigild.child.pid ?? 0;
  const { host, streams: [victim, ...others] } = streamProcesses(vigildPid);
  assert.ok(host !== undefined && victim !== undefined && others.length === 0, 'one stream process: a is isolated, b is in-process');

  const from = vigild.lines.length;
  process.kill(victim, 'SIGSEGV');
  const ended = await vigild.waitForLine('the crash reported', (l) => l['msg'] === 'stream process ended' && l['pid'] === victim, 5_000, from);
  assert.equal(ended['stream'], 'a');
  assert.match(String(ended['reason']), /SIGSEGV/);
  await vigild.waitForLine('stream a playing again', playing('a'), 15_000, from);
  const second = await waitFor('a new stream process', () => streamProcesses(vigildPid).streams.find((p) => p !== victim));
  // b ran on in vigild's own process throughout: no failure, no restart.
  assert.deepEqual(vigild.lines.slice(from).filter((l) => l['stream'] === 'b' && (l.level === 'warn' || l.level === 'error')), []);
  // The operator sees which stream runs in which process, and its crash.
  const shown = await waitFor('vigilctl status to show a\'s new process', async () => {
    const r = await vigilctl(['status', '--socket', socket]);
    return r.code === 0 && r.out.includes(`(pid ${second}, 1 crashed)`) ? r.out : undefined;
  }, 10_000, 200);
  const rowOf = (id: string): string => shown.split('\n').find((l) => l.startsWith(`${id} `)) ?? '';
  assert.match(rowOf('a'), new RegExp(`\\(pid ${second}, 1 crashed\\)`));
  assert.doesNotMatch(rowOf('b'), /pid/, 'b is decoded in vigild itself');

  vigild.child.kill('SIGKILL');
  await vigild.exited;
  // The stream host sees its stdin close and ends its stream processes, then itself.
  await waitFor('the stream process to end after vigild was killed', () => (alive(second) ? undefined : true), 10_000);
  await waitFor('the stream host to end after vigild was killed', () => (alive(host) ? undefined : true), 10_000);
  // The stream process stopped its pipeline (shmsink removes its areas) or the host removed them.
  assert.deepEqual(readdirSync('/dev/shm').filter((n) => Number(/^shmpipe\.\s*(\d+)\./.exec(n)?.[1]) === second), []);
});
