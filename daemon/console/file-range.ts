import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { COMMON_HEADERS, HttpError } from './http-util.js';

/** One `bytes=` range of a file of `size` bytes, inclusive; null for none or several (answered whole); 'unsatisfiable' for a range past the end. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    // The last N bytes.
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/**
 * Sends an evidence file (Range requests answered with 206, as video elements seek with them). The
 * file must really be under `dir` (symlinks followed): the store's recorded path is trusted only so far.
 */
export async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, dir: string, type: string): Promise<void> {
  let real: string;
  let size: number;
  try {
    real = await realpath(file);
    const root = await realpath(dir);
    if (!real.startsWith(root + path.sep)) throw new HttpError(404, 'not_found', 'no such evidence file');
    const s = await stat(real);
    if (!s.isFile()) throw new HttpError(404, 'not_found', 'no such evidence file');
    size = s.size;
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(404, 'not_found', 'no such evidence file (not recorded, deleted, or evicted)');
  }
  const base = { ...COMMON_HEADERS, 'content-type': type, 'accept-ranges': 'bytes', 'cache-control': 'private, max-age=3600' };
  const range = parseRange(typeof req.headers.range === 'string' ? req.headers.range : undefined, size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...base, 'content-range': `bytes */${size}` }).end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  res.writeHead(range ? 206 : 200, {
    ...base, 'content-length': String(size === 0 ? 0 : end - start + 1), ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
  });
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  await pipeline(createReadStream(real, { start, end }), res);
}
