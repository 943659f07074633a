/**
 * Wall-clock time in ms since the epoch with sub-millisecond resolution, for the response-tier
 * timings: Date.now() rounds to whole ms, which is most of a 1-2 ms stage. Monotonic within the
 * process (a clock step by NTP does not bend the intervals), comparable with Date.now() to about 1 ms.
 */
export const wallClock = (): number => performance.timeOrigin + performance.now();
