/**
 * The web app's HTTP server (fastify): the JSON API under /api, server-sent progress events, and
 * the built page from dist/web. It binds to 127.0.0.1 unless told otherwise: the server runs
 * heavy computations for whoever can reach it, so every resource a client can claim is capped
 * (README "Running it for others"), and jobs run in runner processes (runner-client.ts), off
 * this event loop.
 *
 *   POST   /api/jobs               multipart: content, style (1..maxStyles), options (JSON) → 201 {id, …}
 *   GET    /api/jobs               this browser's jobs (all with listAllJobs), newest first
 *   GET    /api/jobs/:id           status, position while queued, progress while running
 *   GET    /api/jobs/:id/events    server-sent events: status, history, loading, scale, iteration, preview, done
 *   DELETE /api/jobs/:id           cancel a waiting or running job; delete a finished one with its files
 *   GET    /api/jobs/:id/preview   latest preview frame (PNG)
 *   GET    /api/jobs/:id/result    result image (PNG); ?download=1 as an attachment
 *   GET    /api/jobs/:id/sheet     content | style(s) | result (PNG); ?download=1 as an attachment
 *   GET    /api/config             limits, the options a job may set, and the presets (the page builds its form from it)
 *   GET    /api/estimate?width&height&styles&options   the time a job would take here (estimate.ts), or its refusal
 *   GET    /weights.json, /weights/…  the network for the page's browser mode (network.ts)
 */
import { existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import { firstLine, ImageError, OptionError, StyleTransferError, WeightsError } from '../errors.js';
import { PRESETS } from '../options.js';
import { defaultDataDir, ensureDataDir } from '../jobs/data-dir.js';
import { DiskGuard } from '../jobs/disk.js';
import { clientCookie, clientToken, isAllowedHost, isSameOrigin, newClientToken, ownerOf } from './guards.js';
import { HttpError } from './http-error.js';
import { isJobId, newJobId } from '../jobs/ids.js';
import { parseJobOptions, REMOTE_OPTION_KEYS, remoteOptionSpecs, validateJobOptions } from '../jobs/options.js';
import { estimateJob } from '../jobs/estimate.js';
import { JobRefusedError } from '../jobs/errors.js';
import { planWork } from '../work.js';
import { isTerminal, type JobSpec } from '../jobs/job.js';
import { resolveLimits, type ServerLimits } from '../jobs/limits.js';
import { JobStateError, QueueClosedError, QueueError, QueueFullError, StorageFullError } from '../queue/errors.js';
import { registerNetworkRoutes } from './network.js';
import { LocalJobQueue, previewUrl, type JobQueue, type JobView, type Retention } from '../queue/local-queue.js';
import { BullJobQueue } from '../queue/bullmq-queue.js';
import { RunnerPool } from '../runner/runner-client.js';
import { runnerJob } from '../runner/runner-protocol.js';
import { SheetRenderer } from '../jobs/sheets.js';
import { EventStreams } from './sse.js';
import { JobStore, type JobFile } from '../jobs/job-store.js';
import { CONTENT_FILE, styleFile } from '../jobs/stored-job.js';
import { readJobUpload } from './upload.js';
import { DEFAULT_UPLOAD_RATE, watchUploadRate, type UploadRate } from './upload-rate.js';
import { QueuedByAddress, SlotLimiter } from './clients.js';

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
  /** Process ids of the live runner processes. */
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
/** Seconds a client refused for load is told to wait. */
const RETRY_AFTER_SECONDS = 5;

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const { app, queue, streams, runners } = await buildServer(opts);
  try {
    await app.listen({ port: opts.port ?? DEFAULT_PORT, host: opts.host ?? DEFAULT_HOST });
  } catch (err) {
    await queue.close();
    await runners.close();
    await app.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host ?? DEFAULT_HOST;
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shown}:${port}/`,
    runnerPids: () => runners.pids(),
    close: () =>
      (closing ??= (async () => {
        // Running jobs end as `interrupted` (their last preview kept); waiting ones stay queued on disk.
        await queue.close();
        await runners.close();
        streams.closeAll();
        await app.close();
      })()),
  };
}

/** The fastify app and its queue, not yet listening (tests and startServer use it). */
export async function buildServer(opts: ServerOptions = {}): Promise<{ app: FastifyInstance; queue: JobQueue; store: JobStore; streams: EventStreams; runners: RunnerPool }> {
  const limits = resolveLimits(opts.limits);
  const concurrency = opts.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new OptionError('concurrency', 'a positive integer', concurrency);
  const log = opts.log ?? (() => {});
  if (opts.weights !== undefined) await checkWeightsFile(opts.weights);

  const dataDir = opts.dataDir ?? defaultDataDir();
  await ensureDataDir(dataDir);
  const store = new JobStore(dataDir);
  await store.init();
  const timeLimit = opts.jobTimeLimitSeconds ?? DEFAULT_JOB_TIME_LIMIT_SECONDS;
  const runners = new RunnerPool(concurrency, {
    weights: opts.weights,
    maxPixels: limits.maxPixels,
    previewIntervalMs: opts.previewIntervalMs,
    timeLimitSeconds: timeLimit > 0 ? timeLimit : undefined,
    log,
  });
  let queue: JobQueue;
  if (opts.redis) {
    // Jobs run in `style-transfer worker` processes; the runner pool stays empty.
    queue = await BullJobQueue.open(store, { redisUrl: opts.redis, maxQueuedJobs: limits.maxQueuedJobs, log });
  } else {
    const local = new LocalJobQueue(store, (spec, ctx) => runners.run(runnerJob(spec, store.dir(spec.id)), { ...ctx, previewUrl: (version) => previewUrl(spec.id, version) }), {
      concurrency,
      maxQueuedJobs: limits.maxQueuedJobs,
      log,
      retention: opts.retention,
      limits,
    });
    await local.restore(await store.loadAll((dir, why) => log(`skipping ${dir}: ${why}`)));
    queue = local;
  }
  const disk = new DiskGuard(store, { maxDataBytes: opts.maxDataBytes, minFreeBytes: opts.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES });

  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const app = Fastify({
    logger: false,
    trustProxy: opts.trustProxy ?? false,
    bodyLimit: 1024 * 1024,
    // A long id must reach the route, which answers 404 (fastify's own answer would be 414); the
    // request line is bounded anyway by Node's 16 KB header limit.
    routerOptions: { maxParamLength: 16 * 1024 },
    // Node's own HTTP server carries the timeouts and the connection cap.
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
      // One more style than allowed still reaches our handler, which then names the limit itself.
      files: limits.maxStyles + 2,
      fields: 8,
      parts: limits.maxStyles + 10,
      fieldSize: 64 * 1024,
    },
  });

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

  const streams = new EventStreams();
  const maxUploads = opts.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS;
  const context: ApiContext = {
    queue,
    store,
    streams,
    limits,
    disk,
    sheets: new SheetRenderer(),
    owner: (request) => ownerOf(tokens.get(request)!.token),
    listAllJobs: opts.listAllJobs ?? false,
    uploads: new SlotLimiter(Math.min(opts.maxUploadsPerAddress ?? DEFAULT_MAX_UPLOADS_PER_ADDRESS, maxUploads), maxUploads),
    uploadRate: opts.uploadRate ?? DEFAULT_UPLOAD_RATE,
    streamSlots: new SlotLimiter(opts.maxStreamsPerAddress ?? DEFAULT_MAX_STREAMS_PER_ADDRESS, opts.maxStreams ?? DEFAULT_MAX_STREAMS),
    streamLifetimeMs: opts.streamLifetimeMs ?? DEFAULT_STREAM_LIFETIME_MS,
    queuedByAddress: new QueuedByAddress(),
  };
  registerApi(app, context);
  registerNetworkRoutes(app, { weights: opts.weights });
  await registerPage(app, opts.webDir ?? findWebDir());
  return { app, queue, store, streams, runners };
}

/** A missing or unreadable --weights file is reported at start, not by every job. */
async function checkWeightsFile(path: string): Promise<void> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new WeightsError(err.code === 'ENOENT' ? `weights file not found: ${path}` : `cannot read the weights file ${path}: ${firstLine(err)}`, path);
  });
  if (!info.isFile()) throw new WeightsError(`the weights file ${path} is not a file`, path);
  if (info.size === 0) throw new WeightsError(`the weights file ${path} is empty`, path);
}

interface ApiContext {
  queue: JobQueue;
  store: JobStore;
  streams: EventStreams;
  limits: ServerLimits;
  disk: DiskGuard;
  sheets: SheetRenderer;
  /** The hash of the requesting browser's token. */
  owner: (request: FastifyRequest) => string;
  listAllJobs: boolean;
  /** Uploads being received, per client address and in all. */
  uploads: SlotLimiter;
  uploadRate: UploadRate;
  /** Open event streams, per client address and in all. */
  streamSlots: SlotLimiter;
  streamLifetimeMs: number;
  queuedByAddress: QueuedByAddress;
}

function registerApi(app: FastifyInstance, ctx: ApiContext): void {
  const { queue, store, streams, limits } = ctx;
  app.get('/api/config', async () => ({
    limits,
    optionKeys: [...REMOTE_OPTION_KEYS, 'previewEvery'],
    options: remoteOptionSpecs(),
    presets: PRESETS,
  }));

  app.get<{ Querystring: Record<string, string | undefined> }>('/api/estimate', async (request) => {
    const { width, height, styles = '1', options } = request.query;
    const content = { width: Number(width), height: Number(height) };
    for (const [name, value] of [
      ['width', content.width],
      ['height', content.height],
      ['styles', Number(styles)],
    ] as const) {
      if (!(Number.isInteger(value) && value >= 1 && value <= 1_000_000))
        throw new HttpError(400, `${name}: expected a positive integer, received ${JSON.stringify(request.query[name] ?? null)}`);
    }
    if (Number(styles) > limits.maxStyles) throw new HttpError(400, `styles: at most ${limits.maxStyles} style images per job on this server, received ${Number(styles)}`);
    if (content.width * content.height > limits.maxPixels) throw new HttpError(422, `a ${content.width}x${content.height} content image has more than ${limits.maxPixels} pixels`);
    const parsed = parseJobOptions(options, limits);
    const resolved = validateJobOptions(parsed.options, content, Number(styles), limits);
    return estimateJob(planWork(content, resolved), resolved, queue.list());
  });

  app.post('/api/jobs', async (request, reply) => {
    // Refuse early, before reading megabytes of uploads that could not be queued anyway.
    if (!queue.hasRoom()) throw new QueueFullError(`the queue is full (${limits.maxQueuedJobs} jobs waiting); try again later`);
    checkQueueQuota(ctx, request);
    const slot = ctx.uploads.acquire(request.ip);
    if (typeof slot === 'string') {
      const who = slot === 'client' ? `your address is already sending ${ctx.uploads.perClient} uploads` : 'the server is busy receiving other uploads';
      throw new HttpError(503, `${who}; try again in ${RETRY_AFTER_SECONDS} s`, { 'Retry-After': String(RETRY_AFTER_SECONDS), Connection: 'close' });
    }
    let upload;
    const stopWatching = watchUploadRate(request.raw, ctx.uploadRate);
    try {
      await ctx.disk.check();
      upload = await readJobUpload(request, limits, () => store.uploadPath());
    } finally {
      stopWatching();
      slot();
    }
    const uploaded = [upload.content.path, ...upload.styles.map((s) => s.path)];
    try {
      // Again: other uploads of the same client may have been queued while this one was read.
      checkQueueQuota(ctx, request);
      validateJobOptions(upload.options, upload.content, upload.styles.length, limits);
      const spec: JobSpec = {
        id: newJobId(),
        createdAt: new Date().toISOString(),
        options: upload.options,
        ...(upload.previewEvery !== undefined ? { previewEvery: upload.previewEvery } : {}),
        content: { file: 'content.img', name: upload.content.name, width: upload.content.width, height: upload.content.height },
        styles: upload.styles.map((s, i) => ({ file: `style-${i + 1}.img`, name: s.name, width: s.width, height: s.height })),
        owner: ctx.owner(request),
      };
      const view = await queue.enqueue(spec, { content: upload.content.path, styles: upload.styles.map((s) => s.path) });
      ctx.queuedByAddress.add(request.ip, spec.id);
      ctx.disk.invalidate();
      return reply.code(201).header('Location', `/api/jobs/${spec.id}`).send(view);
    } finally {
      // Moved into the job's folder on success; deleted on any failure.
      await Promise.all(uploaded.map((p) => rm(p, { force: true })));
    }
  });

  app.get('/api/jobs', async (request) => ({ jobs: queue.list(ctx.listAllJobs ? {} : { owner: ctx.owner(request) }) }));

  app.get<{ Params: { id: string } }>('/api/jobs/:id', async (request) => jobOr404(queue, request.params.id));

  app.delete<{ Params: { id: string } }>('/api/jobs/:id', async (request) => {
    const job = jobOr404(queue, request.params.id);
    // A result link may be shared (reading stays open to whoever has the id); changing the job is its creator's.
    if (!ctx.listAllJobs && !queue.list({ owner: ctx.owner(request) }).some((j) => j.id === job.id)) {
      throw new HttpError(403, `only the browser that created job ${job.id} may cancel or delete it`);
    }
    if (!isTerminal(job.status)) return queue.cancel(job.id);
    await queue.remove(job.id);
    ctx.disk.invalidate();
    return { id: job.id, deleted: true };
  });

  app.get<{ Params: { id: string } }>('/api/jobs/:id/events', async (request, reply) => {
    jobOr404(queue, request.params.id);
    const slot = ctx.streamSlots.acquire(request.ip);
    if (slot === 'client') {
      throw new HttpError(429, `too many open event streams from your address (${ctx.streamSlots.perClient}); close other pages of this server and try again`, {
        'Retry-After': String(RETRY_AFTER_SECONDS),
        Connection: 'close',
      });
    }
    if (slot === 'total')
      throw new HttpError(503, `the server has too many open event streams; try again in ${RETRY_AFTER_SECONDS} s`, {
        'Retry-After': String(RETRY_AFTER_SECONDS),
        Connection: 'close',
      });
    await streams.send(request, reply, (listener) => queue.subscribe(request.params.id, listener), { lifetimeMs: ctx.streamLifetimeMs, onEnd: slot });
  });

  app.get<{ Params: { id: string } }>('/api/jobs/:id/preview', async (request, reply) => {
    const job = jobOr404(queue, request.params.id);
    const png = await store.read(job.id, 'preview.png');
    if (!png) throw new HttpError(404, `job ${job.id} has no preview yet (status ${job.status})`);
    return sendPng(reply, png, { cache: false });
  });

  for (const kind of ['result', 'sheet'] as const) {
    app.get<{ Params: { id: string }; Querystring: { download?: string } }>(`/api/jobs/:id/${kind}`, async (request, reply) => {
      const job = jobOr404(queue, request.params.id);
      if (!job.result) throw new HttpError(409, `job ${job.id} has no result yet (status ${job.status})`);
      let png = await store.read(job.id, `${kind}.png` as JobFile);
      if (!png && kind === 'sheet') png = await partialSheet(ctx, job);
      if (!png) throw new HttpError(404, `job ${job.id} has no ${kind} image`);
      const download = request.query.download !== undefined && request.query.download !== '0';
      return sendPng(reply, png, { cache: true, filename: download ? `style-transfer-${job.id.slice(0, 8)}-${kind}.png` : undefined });
    });
  }
}

/** Refuse a new job (429) when its browser, or its address, already has its share of the queue waiting. */
function checkQueueQuota(ctx: ApiContext, request: FastifyRequest): void {
  const { queue, limits } = ctx;
  const mine = queue.list({ owner: ctx.owner(request) }).filter((j) => j.status === 'queued').length;
  if (mine >= limits.maxQueuedPerBrowser) {
    throw new QueueFullError(`you have ${mine} jobs waiting, the most one browser may have on this server; start more when one has started`);
  }
  const fromAddress = ctx.queuedByAddress.count(request.ip, (id) => queue.get(id)?.status === 'queued');
  if (fromAddress >= limits.maxQueuedPerAddress) {
    throw new QueueFullError(`your address has ${fromAddress} jobs waiting, the most one address may have on this server; start more when one has started`);
  }
}

/** The sheet of a job that ended without one (interrupted by a restart), made once and shared; undefined without its inputs. */
async function partialSheet(ctx: ApiContext, job: JobView): Promise<Buffer | undefined> {
  const { id } = job;
  if (!(await ctx.store.has(id, CONTENT_FILE)) || !(await ctx.store.has(id, 'result.png'))) return undefined;
  // The server's own file names, and the names of the checked record it holds (not job.json again).
  const inputs = { content: { file: CONTENT_FILE, name: job.content.name }, styles: job.styles.map((s, i) => ({ file: styleFile(i), name: s.name })) };
  return ctx.sheets.render(id, ctx.store.dir(id), inputs).catch((err) => {
    throw new HttpError(404, `job ${id} has no sheet: ${firstLine(err)}`);
  });
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

function jobOr404(queue: JobQueue, id: string) {
  if (!isJobId(id)) throw new HttpError(404, `no such job: ${JSON.stringify(id.slice(0, 40))} is not a job id`);
  const job = queue.get(id);
  if (!job) throw new HttpError(404, `no such job: ${id}`);
  return job;
}

function sendPng(reply: FastifyReply, png: Buffer, opts: { cache: boolean; filename?: string }): FastifyReply {
  reply.type('image/png').header('Cache-Control', opts.cache ? 'private, max-age=3600' : 'no-store');
  if (opts.filename) reply.header('Content-Disposition', `attachment; filename="${opts.filename}"`);
  return reply.send(png);
}

/** Map any error to a status code, a one-line message for `{"error": …}`, and headers. */
function errorResponse(error: Error & { statusCode?: number; code?: string }): { status: number; message: string; headers?: Record<string, string> } {
  if (error instanceof HttpError) return { status: error.statusCode, message: error.message, headers: error.headers };
  if (error instanceof QueueError) {
    const status =
      error instanceof QueueFullError ? 429 : error instanceof QueueClosedError ? 503 : error instanceof StorageFullError ? 507 : error instanceof JobStateError ? 409 : 400;
    return { status, message: error.message, headers: status === 429 || status === 503 || status === 507 ? { 'Retry-After': String(RETRY_AFTER_SECONDS) } : undefined };
  }
  if (error instanceof OptionError || error instanceof JobRefusedError) return { status: 400, message: error.message };
  if (error instanceof ImageError) return { status: 422, message: error.message };
  if (error instanceof StyleTransferError) return { status: 400, message: error.message };
  switch (error.code) {
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
      return { status: 400, message: 'too many files or form fields in one request' };
    case 'FST_FIELDS_LIMIT':
      return { status: 400, message: 'too many form fields; expected content, style and options' };
    case 'FST_REQ_FILE_TOO_LARGE':
      return { status: 413, message: 'an uploaded file is larger than the limit' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: 'unsupported content type; send multipart/form-data' };
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_PROTO_VIOLATION':
      return { status: 400, message: 'the upload is not a valid multipart form' };
  }
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  return { status, message: status >= 500 ? 'internal server error' : firstLine(error) };
}
