/**
 * Child process of exit-stress.test.ts: runs one real test:// stream, stops it at the moment the
 * arguments say, and leaves through the daemon's own exit path. Usage:
 *   exit-child.js <after-first-frame|after-start> <delay ms> <exit code>
 */
import { streamSchema } from '../../daemon/config/schema.js';
import { silentLogger } from '../../daemon/log.js';
import { exitWhenNativeIdle } from '../../daemon/video/native-exit.js';
import { VideoStream } from '../../daemon/video/stream.js';

async function run(when: string, delayArg: string, codeArg: string): Promise<void> {
  const delayMs = Number(delayArg);
  const code = Number(codeArg);
  const config = streamSchema.parse({
    id: 'x', uri: 'test://ball?width=640&height=480&fps=30', restart_min_ms: 100, restart_max_ms: 400, stall_timeout_ms: 3000,
  });
  const stream = new VideoStream(config, { log: silentLogger() });
  await stream.start(new AbortController().signal);
  if (when === 'after-first-frame') {
    const frame = await stream.next();
    process.stdout.write(frame === null ? 'no frame\n' : 'frame\n');
  }
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  await stream.stop();
  process.stdout.write('stopped\n');
  await exitWhenNativeIdle(code);
}

// `node --test dist/test/` also loads this file: without its arguments it does nothing.
const [when, delayArg, codeArg] = process.argv.slice(2);
if (when !== undefined && delayArg !== undefined && codeArg !== undefined) await run(when, delayArg, codeArg);
