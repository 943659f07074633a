/**
 * Node/V8 flags (and, below, the C library's settings) vigild runs with. The flags must be on the
 * command line (V8 reads heap sizes once, at start; `v8.setFlagsFromString` later has no effect,
 * checked), so they are written out three times: the launcher's shebang (`vigild`, also the
 * container's entry point), the unit's ExecStart, and here, for the benchmark and the tests that
 * start the daemon.
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

/**
 * glibc's malloc settings, in the environment vigild starts with (GLIBC_TUNABLES is read once, when
 * the process starts): the launcher's shebang passes it through `env -S`, the unit sets it with
 * Environment=, and the benchmark and the tests that start the daemon pass it here.
 *
 * Every inference hands back its outputs as fresh ArrayBuffers (onnxruntime-node copies each output
 * into a new, zero-filled buffer: 1.2 MB a frame for YOLOX-Nano, 1.6 MB for NanoDet-m), and every
 * pulled frame is a new 0.7 MB Node buffer. With glibc's defaults these came from fresh pages each
 * time: the heap above 128 KB (the default trim threshold) went back to the kernel after every
 * collection and faulted in again, zeroed, on the next frame. `perf` on a single YOLOX-Nano stream:
 * 15 % of the whole process's samples (a fifth of the inference thread's) were that memset and its
 * page faults. Keeping up to 32 MiB of free heap per arena (and serving blocks under 4 MiB from the
 * heap, never mmap) removes it: YOLOX-Nano's run() 13.5 → 10.9 ms, 68 → 76 frames/s, for 10–35 MiB
 * more resident memory (one stream; A/B pairs alternating, docs/throughput.md). A trim threshold of
 * 8 MiB did not help (a collection frees more than that at once); 64 MiB helped no more than 32.
 * Setting either value turns glibc's own adaptive threshold off, so both are set.
 */
export const DAEMON_MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=33554432';

/** The environment vigild adds to its own at start. */
export const DAEMON_ENV: Readonly<Record<string, string>> = { GLIBC_TUNABLES: DAEMON_MALLOC_TUNABLES };

/** The settings of DAEMON_MALLOC_TUNABLES that `env`'s GLIBC_TUNABLES lacks (an operator's own additions are kept). */
export function missingMallocTunables(env: NodeJS.ProcessEnv): string[] {
  const have = new Set((env['GLIBC_TUNABLES'] ?? '').split(':'));
  return DAEMON_MALLOC_TUNABLES.split(':').filter((t) => !have.has(t));
}
