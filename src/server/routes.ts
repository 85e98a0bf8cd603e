/**
 * The JSON API under /api (registered on the app by server.ts):
 *
 *   POST   /api/jobs               multipart: content, style (1..maxStyles), styleMask (none, or one per style), options (JSON) → 201 {id, …}
 *   GET    /api/jobs               this browser's jobs (all with listAllJobs), newest first
 *   GET    /api/jobs/:id           status, position while queued, progress while running
 *   GET    /api/jobs/:id/events    server-sent events: status, history, loading, scale, iteration, preview, done
 *   DELETE /api/jobs/:id           cancel a waiting or running job; delete a finished one with its files
 *   GET    /api/jobs/:id/preview   latest preview frame (PNG)
 *   GET    /api/jobs/:id/result    result image (PNG); ?download=1 as an attachment
 *   GET    /api/jobs/:id/sheet     content | style(s) | result (PNG); ?download=1 as an attachment
 *   GET    /api/config             limits, the options a job may set, and the presets (the page builds its form from it)
 *   GET    /api/estimate?width&height&styles&options   the time a job would take here (src/jobs/estimate.ts), or its refusal
 *
 * Every resource a client can claim is capped here (uploads and event streams per address and in
 * all, queued jobs per browser and per address): README "Running it for others".
 */
import { rm } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { firstLine } from '../errors.js';
import { planWork } from '../work.js';
import type { DiskGuard } from '../jobs/disk.js';
import { estimateJob } from '../jobs/estimate.js';
import { isTerminal, type JobView, type ServerConfig } from '../jobs/events.js';
import { isJobId, newJobId } from '../jobs/ids.js';
import type { JobSpec } from '../jobs/job.js';
import type { JobFile, JobStore } from '../jobs/job-store.js';
import type { ServerLimits } from '../jobs/limits.js';
import { parseJobOptions, REMOTE_OPTION_KEYS, remoteOptionSpecs, validateJobOptions } from '../jobs/options.js';
import { PRESETS } from '../options.js';
import type { SheetRenderer } from '../jobs/sheets.js';
import { CONTENT_FILE, maskFile, styleFile } from '../jobs/stored-job.js';
import { QueueFullError } from '../queue/errors.js';
import type { JobQueue } from '../queue/queue.js';
import type { QueuedByAddress, SlotLimiter } from './clients.js';
import { HttpError, RETRY_AFTER_SECONDS } from './http-error.js';
import type { EventStreams } from './sse.js';
import { readJobUpload } from './upload.js';
import { watchUploadRate, type UploadRate } from './upload-rate.js';

export interface ApiContext {
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

export function registerApi(app: FastifyInstance, ctx: ApiContext): void {
  const { queue, store, streams, limits } = ctx;
  app.get('/api/config', async (): Promise<ServerConfig> => ({
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
    const uploaded = [upload.content.path, ...upload.styles.map((s) => s.path), ...upload.masks.map((m) => m.path)];
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
        styles: upload.styles.map((s, i) => ({ file: styleFile(i), name: s.name, width: s.width, height: s.height })),
        ...(upload.masks.length > 0 ? { masks: upload.masks.map((m, i) => ({ file: maskFile(i), name: m.name, width: m.width, height: m.height })) } : {}),
        owner: ctx.owner(request),
      };
      const inputs = { content: upload.content.path, styles: upload.styles.map((s) => s.path), ...(spec.masks ? { masks: upload.masks.map((m) => m.path) } : {}) };
      const view = await queue.enqueue(spec, inputs);
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
  const inputs = {
    content: { file: CONTENT_FILE, name: job.content.name },
    styles: job.styles.map((s, i) => ({ file: styleFile(i), name: s.name })),
    ...(job.masks ? { masks: job.masks.map((m, i) => ({ file: maskFile(i), name: m.name })) } : {}),
  };
  return ctx.sheets.render(id, ctx.store.dir(id), inputs).catch((err) => {
    throw new HttpError(404, `job ${id} has no sheet: ${firstLine(err)}`);
  });
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
