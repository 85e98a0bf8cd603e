/**
 * A tiny static file server for browser tests: what any static host does, and nothing else (no job
 * API). It sends the Cross-Origin-Opener-Policy / Cross-Origin-Embedder-Policy headers that make a
 * page cross-origin isolated (needed for wasm threads) unless told not to, and can map extra URL
 * paths to files outside the site (the weights from ../shared, so tests do not copy 80 MB).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
};

export interface StaticServer {
  readonly url: string;
  /** Paths requested so far (e.g. to check that nothing was uploaded, or that a file was fetched once). */
  readonly requests: { method: string; path: string }[];
  close(): Promise<void>;
}

export interface StaticServerOptions {
  /** Send COOP/COEP (default true). */
  isolated?: boolean;
  /** URL path → file on disk, served in addition to the root. */
  extra?: Record<string, string>;
}

export async function startStaticServer(root: string, opts: StaticServerOptions = {}): Promise<StaticServer> {
  const requests: { method: string; path: string }[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      requests.push({ method: req.method ?? 'GET', path: urlPath });
      const headers: Record<string, string> = { 'cache-control': 'no-cache' };
      if (opts.isolated !== false) {
        headers['cross-origin-opener-policy'] = 'same-origin';
        headers['cross-origin-embedder-policy'] = 'require-corp';
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, headers).end();
        return;
      }
      const file = opts.extra?.[urlPath] ?? path.join(root, path.normalize(urlPath === '/' ? '/index.html' : urlPath));
      if (!opts.extra?.[urlPath] && !file.startsWith(root)) {
        res.writeHead(403, headers).end();
        return;
      }
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile()) {
        res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(200, { ...headers, 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'content-length': String(info.size) });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
