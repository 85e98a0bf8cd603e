/**
 * The web app's HTTP server (fastify): the JSON API under /api (routes.ts), server-sent progress
 * events (sse.ts), the network for the page's browser mode (network.ts) and the built page from
 * dist/web. It binds to 127.0.0.1 unless told otherwise: the server runs heavy computations for
 * whoever can reach it, so every resource a client can claim is capped (README "Running it for
 * others").
 *
 * Jobs go to a queue (src/queue/): the embedded one runs them here, each in a runner process
 * (src/runner/) off this event loop; with --redis they go to Redis, where `style-transfer worker`
 * processes (src/worker/) take them, and this server runs no job itself.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import { firstLine, OptionError, WeightsError } from '../errors.js';
import { defaultDataDir, ensureDataDir } from '../jobs/data-dir.js';
import { DiskGuard } from '../jobs/disk.js';
import { JobStore } from '../jobs/job-store.js';
import { resolveLimits, type ServerLimits } from '../jobs/limits.js';
import { SheetRenderer } from '../jobs/sheets.js';
import { BullJobQueue } from '../queue/bullmq-queue.js';
import { LocalJobQueue, type Retention } from '../queue/local-queue.js';
import type { JobQueue } from '../queue/queue.js';
import { RunnerPool } from '../runner/runner-client.js';
import { QueuedByAddress, SlotLimiter } from './clients.js';
import { clientCookie, clientToken, isAllowedHost, isSameOrigin, newClientToken, ownerOf } from './guards.js';
import { errorResponse, HttpError } from './http-error.js';
import { registerNetworkRoutes } from './network.js';
import { registerApi, type ApiContext } from './routes.js';
import { EventStreams } from './sse.js';
import { DEFAULT_UPLOAD_RATE, type UploadRate } from './upload-rate.js';

export interface ServerTimeouts {
  /** Time a client has to send its request headers (default 10 s): slow-header clients are dropped. */
  headersMs: number;
  /** Time a client has to send its whole request, upload included (default 120 s): slow-body clients are dropped. */
  requestMs: number;
  /** How long an idle keep-alive connection stays open (default 5 s). */
  keepAliveMs: number;
}

export const DEFAULT_TIMEOUTS: Readonly<ServerTimeouts> = { headersMs: 10_000, requestMs: 120_000, keepAliveMs: 5_000 };

export interface ServerOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Where jobs are kept; default defaultDataDir() ($STYLE_TRANSFER_HOME/server, else ~/.local/share/style-transfer/server). */
  dataDir?: string;
  /** Jobs running at once (default 1: one run already uses every core); one runner process each. */
  concurrency?: number;
  limits?: Partial<ServerLimits>;
  /** Weights file for every job; default: the library's choice (STYLE_TRANSFER_WEIGHTS, else the cache). Checked at start. */
  weights?: string;
  /** The built page; default dist/web of this package. */
  webDir?: string;
  /** Where server messages go (default: nowhere). */
  log?: (message: string) => void;
  /** Time-based preview interval for jobs that do not set previewEvery (default 1000 ms). */
  previewIntervalMs?: number;
  /** Queue the jobs on this Redis (redis://host:port) for `style-transfer worker` processes to run, instead of running them here. */
  redis?: string;
  /** A job running longer is stopped and fails, keeping its last image (default 3600 s; 0: no limit). */
  jobTimeLimitSeconds?: number;
  timeouts?: Partial<ServerTimeouts>;
  /** Open connections at most (default 256); more are closed at once. */
  maxConnections?: number;
  /** Uploads read at once (default 4); more get 503 with Retry-After. */
  maxConcurrentUploads?: number;
  /** Finished jobs kept (count and/or age); default: kept until deleted. */
  retention?: Retention;
  /** Bytes all jobs together may use in the data dir; new jobs get 507 beyond it (default: no quota). */
  maxDataBytes?: number;
  /** Free bytes the data dir's file system must keep for new jobs to be accepted (default 64 MiB). */
  minFreeBytes?: number;
  /** Host names (besides IP addresses, localhost and the bound host) the server answers to; `.example.com` allows subdomains. */
  allowedHosts?: readonly string[];
  /** List every job to everyone instead of each browser its own (a trusted single-user setup). */
  listAllJobs?: boolean;
  /**
   * Behind a reverse proxy: take the client's address from X-Forwarded-For and the scheme from
   * X-Forwarded-Proto (default off: a client talking to the server directly could forge them).
   */
  trustProxy?: boolean;
  /** Event streams one client address may hold open (default 16); more get 429. */
  maxStreamsPerAddress?: number;
  /** Event streams open at once in all (default 128, half the connection cap); more get 503. */
  maxStreams?: number;
  /** An event stream is ended after this long (default 30 min); the page's EventSource reconnects on its own. */
  streamLifetimeMs?: number;
  /** Uploads one client address may send at once (default 2, at most maxConcurrentUploads); more get 503. */
  maxUploadsPerAddress?: number;
  /** The slowest an upload may be before its connection is dropped (default 8 KiB/s over 10 s). */
  uploadRate?: UploadRate;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
  /** Process ids of the live runner processes (none with --redis). */
  runnerPids(): number[];
}

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_JOB_TIME_LIMIT_SECONDS = 3600;
export const DEFAULT_MAX_CONNECTIONS = 256;
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 4;
export const DEFAULT_MIN_FREE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_STREAMS_PER_ADDRESS = 16;
export const DEFAULT_MAX_STREAMS = 128;
export const DEFAULT_STREAM_LIFETIME_MS = 30 * 60_000;
export const DEFAULT_MAX_UPLOADS_PER_ADDRESS = 2;

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const { app, jobs, streams } = await buildServer(opts);
  try {
    await app.listen({ port: opts.port ?? DEFAULT_PORT, host: opts.host ?? DEFAULT_HOST });
  } catch (err) {
    await jobs.close();
    await app.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    url: serverUrl(app, opts),
    runnerPids: () => jobs.runnerPids(),
    close: () =>
      (closing ??= (async () => {
        // Running jobs end as `interrupted` (their last preview kept); waiting ones stay queued on disk.
        await jobs.close();
        streams.closeAll();
        await app.close();
      })()),
  };
}

/** The server's jobs: the queue the routes use, and the runner processes that run them here (none with Redis). */
interface JobBackend {
  queue: JobQueue;
  runnerPids(): number[];
  /** Close the queue (running jobs end `interrupted`), then the runners. */
  close(): Promise<void>;
}

/** The options every step needs, checked. */
interface Settings {
  limits: ServerLimits;
  concurrency: number;
  log: (message: string) => void;
}

/** The fastify app with its routes and its jobs, not yet listening. */
export async function buildServer(opts: ServerOptions = {}): Promise<{ app: FastifyInstance; jobs: JobBackend; store: JobStore; streams: EventStreams }> {
  const settings = await checkOptions(opts);
  const store = await openStore(opts);
  const jobs = await openJobs(opts, settings, store);
  try {
    const app = await createApp(opts, settings.limits);
    const owner = registerGuards(app, opts);
    registerErrorHandlers(app, settings.log);
    const streams = new EventStreams();
    registerApi(app, apiContext(opts, settings, { queue: jobs.queue, store, streams, owner }));
    registerNetworkRoutes(app, { weights: opts.weights });
    await registerPage(app, opts.webDir ?? findWebDir());
    return { app, jobs, store, streams };
  } catch (err) {
    await jobs.close();
    throw err;
  }
}

async function checkOptions(opts: ServerOptions): Promise<Settings> {
  const limits = resolveLimits(opts.limits);
  const concurrency = opts.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new OptionError('concurrency', 'a positive integer', concurrency);
  if (opts.weights !== undefined) await checkWeightsFile(opts.weights);
  return { limits, concurrency, log: opts.log ?? (() => {}) };
}

/** A missing or unreadable --weights file is reported at start, not by every job. */
async function checkWeightsFile(path: string): Promise<void> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new WeightsError(err.code === 'ENOENT' ? `weights file not found: ${path}` : `cannot read the weights file ${path}: ${firstLine(err)}`, path);
  });
  if (!info.isFile()) throw new WeightsError(`the weights file ${path} is not a file`, path);
  if (info.size === 0) throw new WeightsError(`the weights file ${path} is empty`, path);
}

/** The data dir, checked and laid out (stray uploads of an earlier run are removed). */
async function openStore(opts: ServerOptions): Promise<JobStore> {
  const dataDir = opts.dataDir ?? defaultDataDir();
  await ensureDataDir(dataDir);
  const store = new JobStore(dataDir);
  await store.init();
  return store;
}

/**
 * The queue: with Redis, BullMQ's (workers elsewhere run the jobs); else the embedded one, which
 * runs each job in one of `concurrency` runner processes and takes over the jobs on disk.
 */
async function openJobs(opts: ServerOptions, settings: Settings, store: JobStore): Promise<JobBackend> {
  const { limits, concurrency, log } = settings;
  if (opts.redis) {
    const queue = await BullJobQueue.open(store, { redisUrl: opts.redis, maxQueuedJobs: limits.maxQueuedJobs, log });
    return { queue, runnerPids: () => [], close: () => queue.close() };
  }
  const timeLimit = opts.jobTimeLimitSeconds ?? DEFAULT_JOB_TIME_LIMIT_SECONDS;
  const runners = new RunnerPool(concurrency, {
    weights: opts.weights,
    maxPixels: limits.maxPixels,
    previewIntervalMs: opts.previewIntervalMs,
    timeLimitSeconds: timeLimit > 0 ? timeLimit : undefined,
    log,
  });
  const queue = new LocalJobQueue(store, (spec, control) => runners.run({ spec, dir: store.dir(spec.id) }, control), {
    concurrency,
    maxQueuedJobs: limits.maxQueuedJobs,
    log,
    retention: opts.retention,
    limits,
  });
  const close = async () => {
    await queue.close();
    await runners.close();
  };
  try {
    await queue.restore(await store.loadAll((dir, why) => log(`skipping ${dir}: ${why}`)));
  } catch (err) {
    await close();
    throw err;
  }
  return { queue, runnerPids: () => runners.pids(), close };
}

/** Fastify on Node's own HTTP server, which carries the timeouts and the connection cap; multipart uploads within the limits. */
async function createApp(opts: ServerOptions, limits: ServerLimits): Promise<FastifyInstance> {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const app = Fastify({
    logger: false,
    trustProxy: opts.trustProxy ?? false,
    bodyLimit: 1024 * 1024,
    // A long id must reach the route, which answers 404 (fastify's own answer would be 414); the
    // request line is bounded anyway by Node's 16 KB header limit.
    routerOptions: { maxParamLength: 16 * 1024 },
    serverFactory: (handler) => {
      const server = createServer(
        {
          headersTimeout: timeouts.headersMs,
          requestTimeout: timeouts.requestMs,
          keepAliveTimeout: timeouts.keepAliveMs,
          // How often Node looks for connections past those timeouts (its default, 30 s, would let them linger).
          connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.min(timeouts.headersMs, timeouts.requestMs) / 4)),
        },
        handler as (req: IncomingMessage, res: ServerResponse) => void,
      );
      server.maxConnections = maxConnections;
      return server;
    },
  });
  await app.register(multipart, {
    limits: {
      fileSize: limits.maxFileBytes,
      // One more style (or mask) than allowed still reaches our handler, which then names the limit itself.
      files: 2 * limits.maxStyles + 3,
      fields: 8,
      parts: 2 * limits.maxStyles + 11,
      fieldSize: 64 * 1024,
    },
  });
  return app;
}

/**
 * Who may talk to the server (guards.ts): only Host names that name it, no cross-site POST or
 * DELETE, and every browser gets a token in a cookie. Every answer carries the security headers.
 * Returns the function that tells a request's owner (the hash of its browser's token).
 */
function registerGuards(app: FastifyInstance, opts: ServerOptions): (request: FastifyRequest) => string {
  const boundHost = opts.host ?? DEFAULT_HOST;
  const allowedHosts = opts.allowedHosts ?? [];
  const tokens = new WeakMap<FastifyRequest, { token: string; isNew: boolean; secure: boolean }>();
  app.addHook('onRequest', async (request) => {
    if (!isAllowedHost(request.headers.host, boundHost, allowedHosts)) {
      throw new HttpError(403, `this server does not answer to the host name ${JSON.stringify(String(request.headers.host ?? '').slice(0, 100))} (see --allowed-hosts)`);
    }
    if ((request.method === 'POST' || request.method === 'DELETE') && !isSameOrigin(request.headers as Record<string, string>)) {
      throw new HttpError(403, 'cross-site requests are refused: use the page this server serves');
    }
    const secure = request.protocol === 'https';
    const token = clientToken(request.headers.cookie, secure);
    tokens.set(request, token ? { token, isNew: false, secure } : { token: newClientToken(), isNew: true, secure });
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    // Browser mode: onnxruntime-web compiles WebAssembly ('wasm-unsafe-eval'), and its threads need
    // SharedArrayBuffer, which the browser gives only to a cross-origin isolated page (COOP + COEP).
    reply.header(
      'Content-Security-Policy',
      "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    );
    reply.header('Cross-Origin-Opener-Policy', 'same-origin');
    reply.header('Cross-Origin-Embedder-Policy', 'require-corp');
    const client = tokens.get(request);
    if (client?.isNew && reply.statusCode < 400) reply.header('Set-Cookie', clientCookie(client.token, client.secure));
  });
  return (request) => ownerOf(tokens.get(request)!.token);
}

/** Every error becomes `{"error": message}` with its status (http-error.ts); server faults are logged. */
function registerErrorHandlers(app: FastifyInstance, log: (message: string) => void): void {
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const { status, message, headers } = errorResponse(error);
    if (status >= 500 && status !== 503 && status !== 507) log(`${request.method} ${request.url.slice(0, 200)}: ${error.stack ?? error.message}`);
    void reply
      .code(status)
      .headers(headers ?? {})
      .send({ error: message });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: `no such endpoint: ${request.method} ${request.url.split('?')[0].slice(0, 200)}` });
  });
}

/** What the routes work with: the jobs, the files, and the caps on what one client may hold. */
function apiContext(opts: ServerOptions, settings: Settings, parts: Pick<ApiContext, 'queue' | 'store' | 'streams' | 'owner'>): ApiContext {
  const maxUploads = opts.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS;
  return {
    ...parts,
    limits: settings.limits,
    disk: new DiskGuard(parts.store, { maxDataBytes: opts.maxDataBytes, minFreeBytes: opts.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES }),
    sheets: new SheetRenderer(),
    listAllJobs: opts.listAllJobs ?? false,
    uploads: new SlotLimiter(Math.min(opts.maxUploadsPerAddress ?? DEFAULT_MAX_UPLOADS_PER_ADDRESS, maxUploads), maxUploads),
    uploadRate: opts.uploadRate ?? DEFAULT_UPLOAD_RATE,
    streamSlots: new SlotLimiter(opts.maxStreamsPerAddress ?? DEFAULT_MAX_STREAMS_PER_ADDRESS, opts.maxStreams ?? DEFAULT_MAX_STREAMS),
    streamLifetimeMs: opts.streamLifetimeMs ?? DEFAULT_STREAM_LIFETIME_MS,
    queuedByAddress: new QueuedByAddress(),
  };
}

/** The built page, or a one-line hint when it has not been built (the API works either way). */
async function registerPage(app: FastifyInstance, webDir: string | undefined): Promise<void> {
  if (webDir && existsSync(`${webDir}/index.html`)) {
    await app.register(fastifyStatic, { root: webDir, index: 'index.html', wildcard: true });
    return;
  }
  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .send(
        '<!doctype html><title>style-transfer</title><p>The web page is not built: run <code>npm run build:web</code> (or <code>npx vite build</code>) in the style-transfer folder, then reload. The API under /api works without it.</p>\n',
      ),
  );
}

/** dist/web next to this module, whether it runs from src/ (tsx) or from dist/src/ (built). */
function findWebDir(): string | undefined {
  const candidates = [new URL('../../dist/web/', import.meta.url), new URL('../../web/', import.meta.url)].map((u) => fileURLToPath(u));
  return candidates.find((dir) => existsSync(`${dir}/index.html`));
}

/** The URL the server is reached at: a wildcard address shows as localhost, an IPv6 one in brackets. */
function serverUrl(app: FastifyInstance, opts: ServerOptions): string {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host ?? DEFAULT_HOST;
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}/`;
}
