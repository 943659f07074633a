import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface FileServer {
  url: string;
  /** Every request: path and its Range header. */
  requests: { path: string; range: string | undefined }[];
  /** Paths whose next responses are cut after this many bytes of body (per response), for this many responses. */
  cut(pathname: string, afterBytes: number, times?: number): void;
}

/**
 * A real HTTP server over a folder, with Range support (206 / 416) as release hosts have, and the
 * faults they show: a connection that drops mid-body after promising the full Content-Length.
 */
export async function serveFiles(t: { after(fn: () => Promise<void> | void): void }, root: string): Promise<FileServer> {
  const requests: FileServer['requests'] = [];
  const cuts = new Map<string, { after: number; times: number }>();
  const server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ path: pathname, range: req.headers.range });
    const file = path.join(root, path.normalize(pathname).replace(/^(\.\.[/\\])+/, ''));
    readFile(file).then((data) => {
      let start = 0;
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (m) {
        start = Number(m[1]);
        if (start >= data.length) {
          res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
          return;
        }
        res.writeHead(206, { 'content-length': data.length - start, 'content-range': `bytes ${start}-${data.length - 1}/${data.length}`, 'accept-ranges': 'bytes' });
      } else {
        res.writeHead(200, { 'content-length': data.length, 'accept-ranges': 'bytes' });
      }
      const body = data.subarray(start);
      const cut = cuts.get(pathname);
      if (cut && cut.times > 0) {
        cut.times -= 1;
        // end, not destroy: every byte written arrives, then the connection closes short of Content-Length.
        res.write(body.subarray(0, cut.after), () => res.socket?.end());
        return;
      }
      res.end(body);
    }, () => res.writeHead(404).end('not found'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    cut: (p, after, times = 1) => cuts.set(p, { after, times }),
  };
}
