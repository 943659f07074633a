import { nativeCallsPending, whenNativeIdle } from './gst.js';

/** How long the exit waits for GStreamer calls still on pool threads once everything is stopped. */
export const NATIVE_IDLE_MS = 2000;

/**
 * Ends a process that ran GStreamer pipelines, with `code`, once stdout is flushed.
 *
 * `process.exit()` joins every libuv pool thread before the process ends (node's exit handler calls
 * uv_library_shutdown → uv__threadpool_cleanup → pthread_join), so a pool thread still blocked in
 * GStreamer makes it wait forever. Stopped pipelines release their pulls and bus polls (gst.ts);
 * this waits for that. Should one still be blocked after `idleMs`, no exit that keeps the code is
 * safe: `process.reallyExit` and a natural end of the loop take the same join, `process.abort()`
 * dumps core. SIGKILL cannot hang; it loses the code, which systemd reads as a failure (a restart
 * request is then still restarted by Restart=on-failure). The caller has committed its data by then.
 */
export async function exitWhenNativeIdle(code: number, idleMs = NATIVE_IDLE_MS): Promise<void> {
  const idle = await whenNativeIdle(idleMs);
  if (!idle) {
    process.stderr.write(`vigild: ${nativeCallsPending()} GStreamer calls still blocked ${idleMs} ms after stop; killing the process instead of exiting ${code}\n`);
  }
  // Flush what is buffered in stdout before leaving; native handles may otherwise keep the loop alive.
  process.stdout.write('', () => {
    if (idle) process.exit(code);
    process.kill(process.pid, 'SIGKILL');
  });
}
