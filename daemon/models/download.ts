import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import { PackageError } from './package-error.js';

export interface DownloadProgress {
  received: number;
  /** null while the server has not said. */
  total: number | null;
}

export interface DownloadOptions {
  /** Called at most every `progressIntervalMs` and once at the end. */
  onProgress?: (p: DownloadProgress) => void;
  progressIntervalMs?: number;
  /** Tries in all; each after the first resumes where the last stopped. */
  attempts?: number;
  retryDelayMs?: number;
  /** No byte for this long ends an attempt. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

interface AttemptResult { complete: boolean; total: number | null; reason?: string }

function attempt(url: URL, part: string, opts: Required<Pick<DownloadOptions, 'idleTimeoutMs' | 'progressIntervalMs'>> & DownloadOptions,
  offset: number): Promise<AttemptResult> {
  return new Promise((resolve, reject) => {
    const get = url.protocol === 'https:' ? https.get : http.get;
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const req = get(url, { headers, ...(opts.signal ? { signal: opts.signal } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      if (status === 416 && offset > 0) {
        // Asked beyond the end: what we have is everything the server has.
        res.resume();
        resolve({ complete: true, total: offset });
        return;
      }
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        reject(Object.assign(new Error('redirect'), { location: new URL(res.headers.location, url).href }));
        return;
      }
      if (status !== 200 && status !== 206) {
        res.resume();
        reject(new PackageError('download_failed', `download of ${url.href} failed: HTTP ${status}`));
        return;
      }
      // A server that ignores Range sends the whole file again: start over rather than append.
      const start = status === 206 ? offset : 0;
      const length = Number(res.headers['content-length']);
      const total = Number.isFinite(length) ? start + length : null;
      const out = createWriteStream(part, { flags: start > 0 ? 'a' : 'w' });
      let received = start;
      let lastReport = 0;
      const report = (force: boolean): void => {
        const now = Date.now();
        if (!force && now - lastReport < opts.progressIntervalMs) return;
        lastReport = now;
        opts.onProgress?.({ received, total });
      };
      res.setTimeout(opts.idleTimeoutMs, () => res.destroy(new Error(`no data for ${opts.idleTimeoutMs} ms`)));
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        // No back-pressure pause: a paused response that then aborts discards what it buffered,
        // and every byte that arrived is a byte the resume need not fetch again. A disk is faster
        // than the network this comes over, so the write queue stays short.
        out.write(chunk);
        report(false);
      });
      let ended = false;
      const finish = (reason?: string): void => {
        if (ended) return;
        ended = true;
        out.end(() => {
          report(true);
          const complete = reason === undefined && (total === null || received >= total);
          resolve({ complete, total, ...(complete ? {} : { reason: reason ?? `connection closed after ${received} of ${total ?? '?'} bytes` }) });
        });
      };
      res.on('end', () => finish(res.complete ? undefined : 'connection closed early'));
      res.on('error', (err) => finish(errorMessage(err)));
      res.on('aborted', () => finish('connection aborted'));
      out.on('error', (err) => reject(err));
    });
    req.on('error', (err) => {
      if (opts.signal?.aborted) reject(err);
      else resolve({ complete: false, total: null, reason: errorMessage(err) });
    });
  });
}

/**
 * Downloads `url` to `dest`, resuming with an HTTP Range request from the bytes a previous try
 * left in `<dest>.part` (also across daemon restarts). A file shorter than the server's
 * Content-Length is never handed on as complete: it stays `.part`, to be resumed, and the error
 * says how much arrived.
 */
export async function download(urlText: string, dest: string, options: DownloadOptions = {}): Promise<{ bytes: number; resumedFrom: number }> {
  const opts = { attempts: 3, retryDelayMs: 500, idleTimeoutMs: 30_000, progressIntervalMs: 1000, ...options };
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    throw new PackageError('download_failed', `not a URL: ${urlText}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PackageError('download_failed', `unsupported URL scheme ${url.protocol} (http or https)`);
  await mkdir(path.dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const sizeOf = async (): Promise<number> => (await stat(part).catch(() => null))?.size ?? 0;
  const resumedFrom = await sizeOf();
  let lastReason = '';
  let redirects = 0;
  for (let i = 0; i < opts.attempts; i++) {
    opts.signal?.throwIfAborted();
    let result: AttemptResult;
    try {
      result = await attempt(url, part, opts, await sizeOf());
    } catch (err) {
      const location = (err as { location?: string }).location;
      if (location !== undefined && redirects++ < 5) {
        url = new URL(location);
        i -= 1;
        continue;
      }
      throw err;
    }
    if (result.complete) {
      await rm(dest, { force: true });
      await rename(part, dest);
      return { bytes: (await stat(dest)).size, resumedFrom };
    }
    lastReason = result.reason ?? 'incomplete';
    if (i + 1 < opts.attempts) await new Promise((r) => setTimeout(r, opts.retryDelayMs * (i + 1)));
  }
  const have = await sizeOf();
  throw new PackageError('truncated', `download of ${url.href} incomplete after ${opts.attempts} tries: ${lastReason}; ` +
    `${have} bytes kept in ${part} to resume`);
}
