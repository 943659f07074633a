/**
 * gstreamer-superficial parks one libuv pool thread per pending appsink pull and one per bus poll,
 * and onnxruntime-node's run() and fs work share the same pool (4 threads by default). With too few
 * threads, a stream's pull starves inference or another stream. The size must be set before the
 * pool is first used, so main sets it before importing anything that touches it.
 */
export function threadPoolSize(streams: number, models: number): number {
  return Math.min(1024, Math.max(4, 2 * streams + 2 * Math.max(1, models) + 2));
}
