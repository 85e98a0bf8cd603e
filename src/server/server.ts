/**
 * The web app's HTTP server (fastify): the JSON API under /api, server-sent progress events, and
 * the built page from dist/web. It binds to 127.0.0.1 unless told otherwise: the server runs
 * arbitrary-size computations for whoever can reach it.
 *
 *   POST   /api/jobs               multipart: content, style (1..maxStyles), options (JSON) → 201 {id, …}
 *   GET    /api/jobs               past and current jobs, newest first
 *   GET    /api/jobs/:id           status, position while queued, progress while running
 *   GET    /api/jobs/:id/events    server-sent events: status, history, loading, scale, iteration, preview, done
 *   DELETE /api/jobs/:id           cancel
 *   GET    /api/jobs/:id/preview   latest preview frame (PNG)
 *   GET    /api/jobs/:id/result    result image (PNG); ?download=1 as an attachment
 *   GET    /api/jobs/:id/sheet     content | style(s) | result (PNG); ?download=1 as an attachment
 *   GET    /api/config             limits, the options a job may set, and the presets (the page builds its form from it)
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import { firstLine, ImageError, OptionError, StyleTransferError } from '../errors.js';
import { PRESETS } from '../options.js';
import { defaultDataDir } from './data-dir.js';
import { HttpError } from './http-error.js';
import { isJobId, newJobId } from './ids.js';
import { REMOTE_OPTION_KEYS, remoteOptionSpecs, validateJobOptions } from './job-options.js';
import type { JobSpec } from './job.js';
import { resolveLimits, type ServerLimits } from './limits.js';
import { LocalJobQueue, type JobQueue } from './queue.js';
import { JobFinishedError, QueueClosedError, QueueFullError } from './queue-errors.js';
import { createStylizeRunner, sheetForPartialResult } from './runner.js';
import { EventStreams } from './sse.js';
import { JobStore, type JobFile } from './store.js';
import { readJobUpload } from './upload.js';

export interface ServerOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Where jobs are kept; default defaultDataDir() ($STYLE_TRANSFER_HOME/server, else ~/.local/share/style-transfer/server). */
  dataDir?: string;
  /** Jobs running at once (default 1: one run already uses every core). */
  concurrency?: number;
  limits?: Partial<ServerLimits>;
  /** Weights file for every job; default: the library's choice (STYLE_TRANSFER_WEIGHTS, else the cache). */
  weights?: string;
  /** The built page; default dist/web of this package. */
  webDir?: string;
  /** Where server messages go (default: nowhere). */
  log?: (message: string) => void;
  /** Time-based preview interval for jobs that do not set previewEvery (default 1000 ms). */
  previewIntervalMs?: number;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const { app, queue, streams } = await buildServer(opts);
  try {
    await app.listen({ port: opts.port ?? DEFAULT_PORT, host: opts.host ?? DEFAULT_HOST });
  } catch (err) {
    await queue.close();
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
    close: () =>
      (closing ??= (async () => {
        // Running jobs end as `interrupted` (their last preview kept); waiting ones stay queued on disk.
        await queue.close();
        streams.closeAll();
        await app.close();
      })()),
  };
}

/** The fastify app and its queue, not yet listening (tests and startServer use it). */
export async function buildServer(opts: ServerOptions = {}): Promise<{ app: FastifyInstance; queue: LocalJobQueue; store: JobStore; streams: EventStreams }> {
  const limits = resolveLimits(opts.limits);
  const concurrency = opts.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new OptionError('concurrency', 'a positive integer', concurrency);
  const log = opts.log ?? (() => {});

  const store = new JobStore(opts.dataDir ?? defaultDataDir());
  await store.init();
  const runner = createStylizeRunner(store, { weights: opts.weights, maxPixels: limits.maxPixels, previewIntervalMs: opts.previewIntervalMs });
  const queue = new LocalJobQueue(store, runner, { concurrency, maxQueuedJobs: limits.maxQueuedJobs, log });
  await queue.restore(await store.loadAll((dir, why) => log(`skipping ${dir}: ${why}`)));

  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
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

  app.addHook('onSend', async (_request, reply) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    reply.header('Content-Security-Policy', "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
  });
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const { status, message } = errorResponse(error);
    if (status >= 500) log(`${request.method} ${request.url}: ${error.stack ?? error.message}`);
    void reply.code(status).send({ error: message });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: `no such endpoint: ${request.method} ${request.url.split('?')[0]}` });
  });

  const streams = new EventStreams();
  registerApi(app, queue, store, streams, limits);
  await registerPage(app, opts.webDir ?? findWebDir());
  return { app, queue, store, streams };
}

function registerApi(app: FastifyInstance, queue: JobQueue, store: JobStore, streams: EventStreams, limits: ServerLimits): void {
  app.get('/api/config', async () => ({
    limits,
    optionKeys: [...REMOTE_OPTION_KEYS, 'previewEvery'],
    options: remoteOptionSpecs(),
    presets: PRESETS,
  }));

  app.post('/api/jobs', async (request, reply) => {
    // Refuse early, before reading megabytes of uploads that could not be queued anyway.
    if (!queue.hasRoom()) throw new QueueFullError(`the queue is full (${limits.maxQueuedJobs} jobs waiting); try again later`);
    const upload = await readJobUpload(request, limits);
    validateJobOptions(upload.options, upload.content, upload.styles.length, limits);
    const spec: JobSpec = {
      id: newJobId(),
      createdAt: new Date().toISOString(),
      options: upload.options,
      ...(upload.previewEvery !== undefined ? { previewEvery: upload.previewEvery } : {}),
      content: { file: 'content.img', name: upload.content.name, width: upload.content.width, height: upload.content.height },
      styles: upload.styles.map((s, i) => ({ file: `style-${i + 1}.img`, name: s.name, width: s.width, height: s.height })),
    };
    const view = await queue.enqueue(spec, { content: upload.content.bytes, styles: upload.styles.map((s) => s.bytes) });
    return reply.code(201).header('Location', `/api/jobs/${spec.id}`).send(view);
  });

  app.get('/api/jobs', async () => ({ jobs: queue.list() }));

  app.get<{ Params: { id: string } }>('/api/jobs/:id', async (request) => jobOr404(queue, request.params.id));

  app.delete<{ Params: { id: string } }>('/api/jobs/:id', async (request) => {
    jobOr404(queue, request.params.id);
    return queue.cancel(request.params.id);
  });

  app.get<{ Params: { id: string } }>('/api/jobs/:id/events', async (request, reply) => {
    jobOr404(queue, request.params.id);
    await streams.send(request, reply, (listener) => queue.subscribe(request.params.id, listener));
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
      if (!png && kind === 'sheet') {
        const spec = await readSpec(store, job.id);
        png = spec && (await sheetForPartialResult(store, spec));
      }
      if (!png) throw new HttpError(404, `job ${job.id} has no ${kind} image`);
      const download = request.query.download !== undefined && request.query.download !== '0';
      return sendPng(reply, png, { cache: true, filename: download ? `style-transfer-${job.id.slice(0, 8)}-${kind}.png` : undefined });
    });
  }
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

async function readSpec(store: JobStore, id: string): Promise<JobSpec | undefined> {
  const bytes = await store.read(id, 'job.json');
  return bytes ? (JSON.parse(bytes.toString('utf8')) as JobSpec) : undefined;
}

function sendPng(reply: FastifyReply, png: Buffer, opts: { cache: boolean; filename?: string }): FastifyReply {
  reply.type('image/png').header('Cache-Control', opts.cache ? 'private, max-age=3600' : 'no-store');
  if (opts.filename) reply.header('Content-Disposition', `attachment; filename="${opts.filename}"`);
  return reply.send(png);
}

/** Map any error to a status code and a one-line message for `{"error": …}`. */
function errorResponse(error: Error & { statusCode?: number; code?: string }): { status: number; message: string } {
  if (error instanceof HttpError) return { status: error.statusCode, message: error.message };
  if (error instanceof QueueFullError) return { status: 429, message: error.message };
  if (error instanceof QueueClosedError) return { status: 503, message: error.message };
  if (error instanceof JobFinishedError) return { status: 409, message: error.message };
  if (error instanceof OptionError) return { status: 400, message: error.message };
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
  }
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  return { status, message: status >= 500 ? 'internal server error' : firstLine(error) };
}
