/**
 * Node/V8 flags vigild runs with. They must be on the command line (V8 reads heap sizes once, at
 * start; `v8.setFlagsFromString` later has no effect, checked), so they are written out three
 * times: the launcher's shebang (`vigild`, also the container's entry point), the unit's
 * ExecStart, and here, for the benchmark and the tests that start the daemon.
 * test/systemd/node-flags.test.ts checks that the three agree.
 *
 * --max-semi-space-size=4: each isolate's young generation (the main thread and every worker
 * thread) otherwise grows to 8–16 MB semi-spaces, and each pulled frame is a new Node buffer whose
 * memory is freed only when its small wrapper object is collected. Measured with the benchmark's
 * scenario (NanoDet-m, 1080p streams at 10 fps, two runs each): peak RSS with 4 streams 560–564 →
 * 458–459 MiB, per added stream 46–49 → 29–38 MiB (peak) and 42–44 → 32–37 MiB (median). Single
 * stream as fast as it goes: 49.5–50.1 fps against 46.7–49.5 without it. A value of 2 cut memory a
 * little more but slowed inference by 15–20 % (20.2 against 16.2 ms per run: the main thread's
 * scavenges, run in parallel on V8's helper threads, take the inference core), so 4 it is.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
