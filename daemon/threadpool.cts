/**
 * gstreamer-superficial parks one libuv pool thread per pending appsink pull and one per bus poll,
 * and onnxruntime-node's run() and fs work share the same pool (4 threads by default). With too few
 * threads, one stream's pull starves inference or another stream's errors (seen: an unreachable
 * camera's error arriving seconds late with 6 streams on 4 threads).
 *
 * CommonJS on purpose: libuv reads UV_THREADPOOL_SIZE once, when the pool first starts, and Node's
 * ES module loader already uses the pool to read the entry file. Only a CommonJS entry, which
 * loads synchronously, can set the size before that happens.
 */
import { readFileSync, statSync } from 'node:fs';

/**
 * 3 per stream (its pull, its bus poll, its access-unit pull when clips or the live view use it),
 * 2 per model, 1 for the snapshot encoder's pull, 2 for fs work.
 */
export function threadPoolSize(streams: number, models: number): number {
  return Math.min(1024, Math.max(4, 3 * streams + 2 * Math.max(1, models) + 3));
}

/** Enough for the configured streams, read cheaply from the config file before anything else loads. */
export function threadPoolSizeFor(argv: readonly string[], env: NodeJS.ProcessEnv): number {
  if (argv.includes('--demo')) return threadPoolSize(1, 1);
  const i = argv.findIndex((a) => a === '--config' || a === '-c');
  const inline = argv.find((a) => a.startsWith('--config='))?.slice('--config='.length);
  const file = inline ?? (i >= 0 ? argv[i + 1] : undefined) ?? env['VIGIL_CONFIG'] ?? '/etc/vigil/vigil.yaml';
  try {
    // Counting list items is enough here; the real validation happens later, with proper errors.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS entry: ESM import would start the pool
    const yaml = require('yaml') as typeof import('yaml');
    // Bounded like the real load (config/bounded-yaml.ts): no read of a huge file or a FIFO, and the
    // lists are counted on the parsed document, without toJS, which a hostile file can make take minutes.
    const st = statSync(file);
    if (!st.isFile() || st.size > 1024 * 1024) return threadPoolSize(16, 4);
    const doc = yaml.parseDocument(readFileSync(file, 'utf8'));
    const count = (key: string): number => {
      const node = doc.get(key, true);
      return yaml.isSeq(node) ? node.items.length : 0;
    };
    return threadPoolSize(count('streams'), count('models'));
  } catch {
    return threadPoolSize(16, 4);
  }
}
