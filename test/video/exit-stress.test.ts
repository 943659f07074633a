import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * Stop-then-exit under stress: each cycle is a fresh process that plays a real test:// stream,
 * stops it at a random moment (before any frame, right at the first frame, a few ms after it) and
 * leaves through the daemon's exit path (daemon/video/native-exit.ts). A pool thread left blocked
 * in GStreamer makes `process.exit()` hang joining it, or (past the native-idle deadline) ends the
 * process by SIGKILL: either fails the cycle. Before the fix about 1 exit in 20 hung.
 */
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'exit-child.js');
const CYCLES = 40;
const PARALLEL = 2;
/** Start (about 1 s on a loaded 2-core machine) plus stop; a hang never ends, SIGKILL comes at 2 s. */
const EXIT_DEADLINE_MS = 10_000;
const EXIT_CODE = 42;

interface Cycle {
  readonly when: 'after-first-frame' | 'after-start';
  readonly delayMs: number;
}

interface Outcome {
  readonly cycle: Cycle;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly hung: boolean;
  readonly ms: number;
  readonly stdout: string;
  readonly stderr: string;
}

function runCycle(cycle: Cycle): Promise<Outcome> {
  const started = Date.now();
  const child = spawn(process.execPath, [CHILD, cycle.when, String(cycle.delayMs), String(EXIT_CODE)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  return new Promise((resolve) => {
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, EXIT_DEADLINE_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ cycle, code, signal, hung, ms: Date.now() - started, stdout, stderr });
    });
  });
}

/** A third stop before any frame, a third exactly at the first frame, a third 1–25 ms after it. */
function cycles(): Cycle[] {
  return Array.from({ length: CYCLES }, (_, i): Cycle => {
    const jitter = Math.floor(Math.random() * 25) + 1;
    if (i % 3 === 0) return { when: 'after-start', delayMs: Math.floor(Math.random() * 40) };
    return { when: 'after-first-frame', delayMs: i % 3 === 1 ? 0 : jitter };
  });
}

void test(`${CYCLES} processes stop a playing stream at random moments and all exit with their code`, { timeout: 90_000 }, async (t) => {
  const todo = cycles();
  const outcomes: Outcome[] = [];
  const worker = async (): Promise<void> => {
    for (let c = todo.shift(); c !== undefined; c = todo.shift()) outcomes.push(await runCycle(c));
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));

  const bad = outcomes.filter((o) => o.hung || o.code !== EXIT_CODE || o.signal !== null || !o.stdout.endsWith('stopped\n'));
  const slowest = Math.max(...outcomes.map((o) => o.ms));
  t.diagnostic(`${outcomes.length} cycles, ${bad.length} bad (${outcomes.filter((o) => o.hung).length} hung), slowest ${slowest} ms`);
  assert.equal(outcomes.length, CYCLES);
  assert.deepEqual(bad.map((o) => ({ ...o.cycle, code: o.code, signal: o.signal, hung: o.hung, stderr: o.stderr.slice(-300) })), [],
    'every process exits by itself, in time, with its code, after flushing stdout');
});
