/**
 * Node/V8 flags vigild runs with. They must be on the command line (V8 reads heap sizes once, at
 * start; `v8.setFlagsFromString` later has no effect, checked), so they are written out three
 * times: the launcher's shebang (`vigild`, also the container's entry point), the unit's
 * ExecStart, and here, for the benchmark and the tests that start the daemon.
 * test/systemd/node-flags.test.ts checks that the three agree.
 *
 * --max-semi-space-size=2: each isolate's young generation (the main thread and every worker
 * thread, the inference workers included) otherwise grows to 8–16 MB semi-spaces, and each pulled
 * frame is a new Node buffer whose memory is freed only when its small wrapper object is collected.
 * Measured with the benchmark's scenario (NanoDet-m, 1080p streams at 10 fps, two runs each): peak
 * RSS 1 stream 411–421 → 342 MiB, 4 streams 560–564 → 423–447 MiB; fps and CPU unchanged within noise.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
