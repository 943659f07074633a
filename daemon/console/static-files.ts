import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { COMMON_HEADERS, HttpError } from './http-util.js';

/** Where `npm run build` puts the pages (esbuild, daemon/console/web): dist/console-web beside dist/daemon. */
export const WEB_ROOT = fileURLToPath(new URL('../../console-web/', import.meta.url));

/**
 * The pages' policy: only this origin's scripts, styles and connections; pictures also from blob:
 * and data: URLs (snapshots drawn on canvases), video from blob: (Media Source). No inline script,
 * no framing, no plugins.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob: data:", "media-src 'self' blob:",
  "connect-src 'self'", "font-src 'self'", "manifest-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.ico': 'image/x-icon',
  '.webp': 'image/webp', '.woff2': 'font/woff2', '.txt': 'text/plain; charset=utf-8', '.webmanifest': 'application/manifest+json',
};

/** Served while the pages are not built, so that the console still answers and says why. */
const PLACEHOLDER = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Vigil console</title></head>' +
  '<body><h1>Vigil console</h1><p>The console\'s pages are not built on this device: run <code>npm run build</code>. ' +
  'The API under <code>/api/</code> works without them.</p></body></html>\n';

export const pageHeaders = (type: string): Record<string, string> => ({
  ...COMMON_HEADERS, 'content-type': type, 'content-security-policy': CONTENT_SECURITY_POLICY,
});

/**
 * The URL path as a file under `root`, or an HttpError: a path that is not valid percent-encoding,
 * holds a NUL or a backslash, or has a `.`/`..` segment (encoded or not) is refused as a bad
 * request, whatever it would resolve to; so is one whose real path (symlinks followed) leaves root.
 */
export function safeRelative(urlPath: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    throw new HttpError(400, 'bad_path', 'malformed percent-encoding in the path');
  }
  if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\') || decoded.startsWith('//')) {
    throw new HttpError(400, 'bad_path', 'path not allowed');
  }
  const segments = decoded.slice(1).split('/');
  if (segments.some((s) => s === '.' || s === '..')) throw new HttpError(400, 'bad_path', 'path not allowed');
  return segments.filter((s) => s !== '').join('/');
}

export class StaticFiles {
  constructor(private readonly root: string = WEB_ROOT) {}

  /** Answers GET/HEAD of a page or asset; client-side routes (no extension) get index.html. */
  async serve(req: IncomingMessage, res: ServerResponse, urlPath: string): Promise<void> {
    const rel = safeRelative(urlPath);
    let file = await this.resolve(rel === '' ? 'index.html' : rel);
    if (file === null && path.extname(rel) === '') file = await this.resolve('index.html');
    if (file === null) {
      if (rel === '' || path.extname(rel) === '') {
        res.writeHead(200, { ...pageHeaders('text/html; charset=utf-8'), 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : PLACEHOLDER);
        return;
      }
      throw new HttpError(404, 'not_found', 'no such file');
    }
    const etag = `"${file.size.toString(36)}-${Math.trunc(file.mtimeMs).toString(36)}"`;
    const headers = {
      ...pageHeaders(TYPES[path.extname(file.path).toLowerCase()] ?? 'application/octet-stream'),
      // Not content-hashed names: the browser keeps them but asks each time (a 304 costs a stat).
      'cache-control': 'no-cache', etag,
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': String(file.size) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await pipeline(createReadStream(file.path), res);
  }

  /** A regular file under root (after symlinks), or null. */
  private async resolve(rel: string): Promise<{ path: string; size: number; mtimeMs: number } | null> {
    try {
      const root = await realpath(this.root);
      const real = await realpath(path.join(root, rel));
      if (real !== root && !real.startsWith(root + path.sep)) return null;
      const s = await stat(real);
      return s.isFile() ? { path: real, size: s.size, mtimeMs: s.mtimeMs } : null;
    } catch {
      return null;
    }
  }
}
