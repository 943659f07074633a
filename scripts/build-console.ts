/**
 * Builds the web console's static files (docs/console.md): daemon/console/web → dist/console-web/
 * index.html, app.js (Preact and the pages in one ES module) and app.css. Run by `npm run build`
 * after both TypeScript programs have been checked; the console serves the folder as it is, so a
 * device on an isolated site network needs nothing from the internet.
 *
 *   node dist/scripts/build-console.js [--dev]   (--dev: not minified, with an inline source map)
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const repoRoot = ((): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();

export const CONSOLE_WEB_SOURCE = path.join(repoRoot, 'daemon', 'console', 'web');
export const CONSOLE_WEB_OUT = path.join(repoRoot, 'dist', 'console-web');

/** Bundles the console into `outDir`; returns the files written with their sizes. */
export async function buildConsole(outDir = CONSOLE_WEB_OUT, dev = false): Promise<{ file: string; bytes: number }[]> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: { app: path.join(CONSOLE_WEB_SOURCE, 'main.tsx') },
    outdir: outDir,
    bundle: true,
    format: 'esm',
    // Chromium, Firefox and Safari of the last few years, tablets included.
    target: ['es2022', 'chrome100', 'firefox100', 'safari15'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: !dev,
    sourcemap: dev ? 'inline' : false,
    legalComments: 'none',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
  });
  await copyFile(path.join(CONSOLE_WEB_SOURCE, 'index.html'), path.join(outDir, 'index.html'));
  await copyFile(path.join(CONSOLE_WEB_SOURCE, 'app.css'), path.join(outDir, 'app.css'));
  const files = ['index.html', 'app.js', 'app.css'];
  return Promise.all(files.map(async (f) => ({ file: path.join(outDir, f), bytes: (await stat(path.join(outDir, f))).size })));
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { dev: { type: 'boolean', default: false } } });
  const files = await buildConsole(CONSOLE_WEB_OUT, values.dev);
  console.log(`console: ${files.map((f) => `${path.relative(repoRoot, f.file)} ${(f.bytes / 1024).toFixed(1)} KiB`).join(', ')}`);
}
