/** Helpers for the server tests: a server on a loopback port in a temporary data dir, uploads, and an SSE reader. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import sharp from 'sharp';
import { startServer, type ServerOptions } from '../../src/server/server.js';
import { sharedImage, sharedWeights } from '../helpers.js';

export { sharedImage, sharedWeights };

export interface TestServer {
  url: string;
  dataDir: string;
  /** Process ids of the server's runner processes. */
  runnerPids(): number[];
  close(): Promise<void>;
  /** Close the server and remove its data dir. */
  dispose(): Promise<void>;
}

export async function tempDataDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'st-server-'));
}

export async function startTestServer(opts: ServerOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? (await tempDataDir());
  const server = await startServer({ port: 0, weights: sharedWeights, ...opts, dataDir });
  return {
    url: server.url.replace(/\/$/, ''),
    dataDir,
    runnerPids: () => server.runnerPids(),
    close: () => server.close(),
    dispose: async () => {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A server shared by the tests of one file, started by the first test that asks for it and
 * disposed after the file's tests (each server forks a runner that reads the weights and builds its
 * sessions: ~3-4 CPU-s). Call it at the top level of a test file: it registers that file's after().
 */
export function fileServer(opts: ServerOptions = {}): () => Promise<TestServer> {
  let server: Promise<TestServer> | undefined;
  after(async () => {
    await (await server)?.dispose();
  });
  return () => (server ??= startTestServer(opts));
}

export interface FilePart {
  field: 'content' | 'style' | string;
  name: string;
  bytes: Uint8Array;
  type?: string;
}

export async function imageFile(field: string, name: 'dog' | 'matisse' | 'landscape' | 'monet'): Promise<FilePart> {
  return { field, name: `${name}.jpg`, bytes: await readFile(sharedImage(name)), type: 'image/jpeg' };
}

/** A tiny, fast job: 64 px, a few Adam iterations, one scale. */
export const SMALL_JOB = { size: 64, iterations: 4, scaleIterations: 0, optimizer: 'adam', learningRate: 2 };

/** The cookie of one browser: the tests' requests carry it, so listings show the jobs they created. */
export const BROWSER_COOKIE = `st_client=${randomBytes(16).toString('hex')}`;

export async function postJob(
  url: string,
  files: FilePart[],
  options?: unknown,
  headers: Record<string, string> = { cookie: BROWSER_COOKIE },
): Promise<{ status: number; body: any; headers: Headers }> {
  const form = new FormData();
  for (const f of files) form.append(f.field, new Blob([f.bytes.slice()], { type: f.type ?? 'application/octet-stream' }), f.name);
  if (options !== undefined) form.append('options', typeof options === 'string' ? options : JSON.stringify(options));
  const res = await fetch(`${url}/api/jobs`, { method: 'POST', body: form, headers });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { ...init, headers: { cookie: BROWSER_COOKIE, ...(init?.headers as Record<string, string>) } });
  return { status: res.status, body: await res.json() };
}

/**
 * Read a server-sent event stream to its end (the server closes it after the final status),
 * parsing each event's data lines as JSON. `onEvent` may return true to stop early.
 */
export async function readEvents(url: string, onEvent: (event: any) => boolean | void = () => {}, timeoutMs = 60_000): Promise<any[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: any[] = [];
  try {
    const res = await fetch(url, { signal: controller.signal, headers: { Accept: 'text/event-stream' } });
    if (res.status !== 200) throw new Error(`events: HTTP ${res.status}`);
    if (!res.headers.get('content-type')?.startsWith('text/event-stream')) throw new Error(`events: content-type ${res.headers.get('content-type')}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (!data) continue;
        const event = JSON.parse(data);
        events.push(event);
        if (onEvent(event)) {
          controller.abort();
          return events;
        }
      }
    }
    return events;
  } catch (err) {
    if (controller.signal.aborted && events.length > 0 && (err as Error).name === 'AbortError') return events;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Poll GET /api/jobs/:id until its status is one of `states`. */
export async function waitForStatus(url: string, id: string, states: string[], timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await getJson(`${url}/api/jobs/${id}`);
    if (states.includes(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${body.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Mean colour of the left and right halves of an image. */
export function halfMeans(image: { data: Uint8Array; width: number; height: number }): { left: number[]; right: number[] } {
  const left = [0, 0, 0];
  const right = [0, 0, 0];
  for (let y = 0; y < image.height; y++)
    for (let x = 0; x < image.width; x++) for (let c = 0; c < 3; c++) (x < image.width / 2 ? left : right)[c] += image.data[(y * image.width + x) * 3 + c];
  const n = (image.width * image.height) / 2;
  return { left: left.map((v) => v / n), right: right.map((v) => v / n) };
}

/** Flat red and flat blue "paintings": which one a region of a result took is told by its mean colour. */
export const RED = [220, 30, 30];
export const BLUE = [30, 30, 220];
/** Enough steps for a 64 px run to move each masked half clearly towards its style's colour (no colour start, the content weight off). */
export const MASKED_JOB = { size: 64, iterations: 30, scaleIterations: 0, optimizer: 'adam', learningRate: 20, colourStart: false, contentWeight: 0 };

/** A PNG of one colour. */
export function flatPng(rgb: readonly number[], width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();
}

/** A grey PNG, white on the left half (or the right), black elsewhere. */
export function halfMaskPng(left: boolean, width: number, height: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = x < width / 2 === left ? 255 : 0;
  return sharp(data, { raw: { width, height, channels: 1 } })
    .png()
    .toBuffer();
}

/** Euclidean distance between two colours. */
export const colourDistance = (a: readonly number[], b: readonly number[]) => Math.hypot(...a.map((v, i) => v - b[i]));
