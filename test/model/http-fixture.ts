/** A local HTTP file server for download tests, with switches for the failures a real network has. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedFile {
  body: Uint8Array;
  /** Destroy the socket after this many body bytes, for the first `cutTimes` requests. */
  cutAfter?: number;
  cutTimes?: number;
  /** Answer every request with the whole file (200), as servers without Range support do. */
  ignoreRange?: boolean;
}

export interface RecordedRequest {
  path: string;
  range: string | undefined;
}

export class FileServer {
  readonly files = new Map<string, ServedFile>();
  readonly requests: RecordedRequest[] = [];
  private server: Server | undefined;
  private cuts = new Map<string, number>();

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private handle(req: IncomingMessage, res: import('node:http').ServerResponse) {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const range = req.headers.range;
    this.requests.push({ path, range });
    const file = this.files.get(path);
    if (!file) {
      res.writeHead(404, 'Not Found').end();
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(range ?? '');
    if (m && !file.ignoreRange) {
      start = Number(m[1]);
      res.writeHead(206, { 'content-length': file.body.length - start, 'content-range': `bytes ${start}-${file.body.length - 1}/${file.body.length}` });
    } else {
      res.writeHead(200, { 'content-length': file.body.length });
    }
    const cutsSoFar = this.cuts.get(path) ?? 0;
    if (file.cutAfter !== undefined && cutsSoFar < (file.cutTimes ?? 1)) {
      this.cuts.set(path, cutsSoFar + 1);
      res.write(file.body.subarray(start, start + file.cutAfter), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(file.body.subarray(start));
  }
}

/** A port nothing listens on: bind one, then close it. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
