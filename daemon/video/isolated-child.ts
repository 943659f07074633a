/**
 * The child process of an isolated stream (docs/process-isolation.md): runs the pipeline vigild
 * sends it, whose sinks write into shared memory, and reports what its bus says. It has no state
 * worth keeping: on any error it reports and ends, and vigild starts a new one with backoff. It
 * also ends when vigild goes away (its IPC channel closes), so a killed daemon leaves no decoder
 * running.
 *
 *   node dist/daemon/video/isolated-child.js   (spawned by isolated-pipeline.ts with an IPC channel)
 */
import { existsSync, rmSync } from 'node:fs';
import { errorMessage } from '../errors.js';
import { createPipeline, type GstPipeline } from './gst.js';
import { isToChild, type FromChild } from './isolated-protocol.js';
import { exitWhenNativeIdle } from './native-exit.js';

/** How long the shmsinks may take to create their sockets after PLAYING is asked for. */
const SOCKETS_MS = 10_000;

let pipeline: GstPipeline | null = null;
let ending = false;
let dir: string | null = null;

/** Sends `msg`, then calls `then` once it is written (or at once without a channel). */
function send(msg: FromChild, then?: () => void): void {
  if (process.connected && process.send !== undefined) process.send(msg, undefined, {}, () => then?.());
  else then?.();
}

/** Stops the pipeline and leaves, once GStreamer's pool-thread calls returned (native-exit.ts). */
function end(code: number): void {
  if (ending) return;
  ending = true;
  try {
    // Pausing first wakes the binding's bus poll (see VideoStream.teardown).
    pipeline?.pause();
    pipeline?.stop();
  } catch {
    // Ending anyway: the process and everything the pipeline held go with it.
  }
  // vigild removes it too when this process ends, but may itself be ending.
  if (dir !== null) rmSync(dir, { recursive: true, force: true });
  void exitWhenNativeIdle(code, 1_000);
}

function start(description: string, secrets: readonly { element: string; property: string; value: string }[], sockets: readonly string[]): void {
  try {
    const p = createPipeline(description);
    pipeline = p;
    for (const s of secrets) {
      const el = p.findChild(s.element);
      if (el === undefined) throw new Error(`pipeline has no element "${s.element}"`);
      el[s.property] = s.value;
    }
    p.pollBus((msg) => {
      if (ending) return;
      // vigild decides what an end means (loop, or the stream ended) and stops this process.
      if (msg.type === 'eos') send({ type: 'eos' });
      if (msg.type !== 'error') return;
      send({ type: 'error', element: msg._src_element_name ?? null, message: msg.message ?? 'unknown GStreamer error' }, () => end(1));
    });
    p.play();
  } catch (err) {
    send({ type: 'error', element: null, message: errorMessage(err) }, () => end(1));
    return;
  }
  // shmsink creates its socket when it starts (READY → PAUSED); there is no bus message for it.
  const deadline = Date.now() + SOCKETS_MS;
  const check = (): void => {
    if (ending) return;
    if (sockets.every((s) => existsSync(s))) {
      send({ type: 'ready' });
      return;
    }
    if (Date.now() > deadline) {
      send({ type: 'error', element: null, message: `the shared-memory sockets did not appear within ${SOCKETS_MS} ms` }, () => end(1));
      return;
    }
    setTimeout(check, 5);
  };
  check();
}

process.on('message', (msg: unknown) => {
  if (!isToChild(msg)) return;
  switch (msg.type) {
    case 'start':
      if (pipeline === null) {
        dir = msg.dir;
        start(msg.description, msg.secrets, msg.sockets);
      }
      return;
    case 'stop':
      end(0);
      return;
  }
});
// vigild ended or closed the channel: nothing reads the frames any more.
process.on('disconnect', () => end(0));
process.on('SIGTERM', () => end(0));
