/**
 * `npm run test:unit`: the fast tier. Runs every test file that needs no broker, no GStreamer, no
 * model and no child daemon, chosen by what the test imports (followed through the test's own
 * helper modules), so a new test joins the tier without anyone keeping a list. The heavy parts
 * also refuse to start while VIGIL_TEST_TIER=unit (see test/helpers/mosquitto.ts), so a test that
 * reaches one without importing it by name fails loudly instead of slowing the tier down.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Imports (resolved, relative to the repository) that mean a broker, a pipeline, a model or a daemon. */
const HEAVY_MODULES = [
  'test/helpers/mosquitto', 'test/helpers/media', 'test/helpers/rtsp-server', 'test/helpers/file-server',
  'test/e2e/daemon-harness', 'daemon/app', 'daemon/video/', 'daemon/inference/session', 'daemon/inference/detector',
  'daemon/inference/worker-detector', 'daemon/evidence/gst-jpeg-encoder', 'daemon/demo/', 'daemon/learning/embedder',
];
/** Words in a test's own source that mean the same without an import of the modules above. */
const HEAVY_WORDS = [/exit-child/, /gst-launch/, /gstreamer-superficial/, /onnxruntime-node/, /launcher\.cjs/, /sharedPath\(\s*'(models|video|images|mot)'/, /mount\b/];

const IMPORT = /(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sourceOf(file: string): string {
  return readFileSync(file, 'utf8');
}

/** Whether a test file, or a test-local module it imports, reaches a heavy part. */
function isHeavy(file: string, seen = new Set<string>()): string | null {
  if (seen.has(file)) return null;
  seen.add(file);
  const text = sourceOf(file);
  const word = HEAVY_WORDS.find((w) => w.test(text));
  if (word) return `${path.relative(root, file)} mentions ${word.source}`;
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (spec === undefined) continue;
    const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
    const rel = path.relative(root, target);
    const hit = HEAVY_MODULES.find((h) => rel === h + '.ts' || (h.endsWith('/') && rel.startsWith(h)));
    if (hit) return `${path.relative(root, file)} imports ${hit}`;
    // Test-local helpers are followed; the daemon's own modules are judged by the list above.
    if (rel.startsWith('test/') && existsSync(target)) {
      const deeper = isHeavy(target, seen);
      if (deeper) return deeper;
    }
  }
  return null;
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : testFiles(p);
    return e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const all = testFiles(path.join(root, 'test')).sort();
const unit = all.filter((f) => isHeavy(f) === null);
if (process.argv.includes('--list')) {
  for (const f of all) console.log(`${isHeavy(f) === null ? 'unit ' : 'full '} ${path.relative(root, f)}`);
  process.exit(0);
}
const compiled = unit.map((f) => path.join(root, 'dist', path.relative(root, f)).replace(/\.ts$/, '.js'));
console.log(`test:unit: ${unit.length} of ${all.length} test files (no broker, GStreamer, model or daemon)`);
const run = spawnSync(process.execPath, ['--test', '--test-force-exit', '--test-timeout=120000', ...compiled], {
  stdio: 'inherit', env: { ...process.env, VIGIL_TEST_TIER: 'unit' },
});
process.exit(run.status ?? 1);
