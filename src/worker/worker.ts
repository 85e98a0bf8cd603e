/**
 * A worker process's job loop: a BullMQ Worker takes jobs from Redis, runs each with executeJob,
 * and keeps the job's record (redis-jobs.ts) up to date: running with its attempt number, progress,
 * then done, failed or cancelled. Any number of workers, on any machines, share one queue.
 *
 * Nothing is lost when a worker dies: BullMQ holds a lock on each running job that the worker
 * renews every lockDuration/2; a worker killed with SIGKILL stops renewing it, and another worker's
 * stalled-job check (every stalledInterval) moves the job back to the queue, where the next free
 * worker takes it and resumes from the job's last checkpoint. A job that kills its worker
 * maxStalledCount + 1 times fails instead of taking the whole fleet down.
 *
 * Jobs run in this process, on its own Stylizers (executeJob of src/jobs/, with checkpoints), not
 * in runner processes as the embedded queue's do: the worker is already a process of its own. So a
 * long synchronous stretch of a job can keep this process from renewing a lock in time; BullMQ then
 * reports the lost lock, and the job is aborted here (LOCK_LOST) while another worker takes it over.
 *
 * Cancel: a server publishes the job id on the cancel channel; the worker that runs it aborts the
 * job's AbortSignal (BullMQ's worker.cancelJob), and the library stops within one iteration.
 * SIGTERM: the worker stops taking jobs, aborts the ones it runs and puts them back in the queue
 * at once (they resume from their checkpoints elsewhere).
 */
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { AbortError, firstLine, StyleTransferError } from '../errors.js';
import { isTerminal, iterationUpdate, previewUrl, type JobEvent } from '../jobs/events.js';
import { executeJob } from '../jobs/execute.js';
import { isJobId } from '../jobs/ids.js';
import type { JobSpec } from '../jobs/job.js';
import { JobStore } from '../jobs/job-store.js';
import { resolveLimits, type ServerLimits } from '../jobs/limits.js';
import { BadRecordError, checkRunnable } from '../jobs/stored-job.js';
import { connectRedis, DEFAULT_PREFIX, JobRecords, QUEUE_NAME, RedisKeys, type JobRecord, type RemoteJobStatus } from '../queue/redis-jobs.js';
import { createStylizer, type Stylizer } from '../stylize.js';

export interface WorkerOptions {
  redisUrl: string;
  /** The data dir every server and worker shares. */
  dataDir: string;
  /** Jobs run at once by this process (default 1: one run already uses every core it is given). */
  concurrency?: number;
  /** ONNX Runtime threads per job (default: the library's, all cores). */
  threads?: number;
  weights?: string;
  prefix?: string;
  /** How long a job's lock lasts without renewal: a dead worker's job is taken over after about this long (default 30 s). */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs (default 15 s). */
  stalledIntervalMs?: number;
  /** Takeovers allowed before a job fails (default 2). */
  maxStalledCount?: number;
  /**
   * The limits every job must pass again before it runs (default: the server's defaults). Taken
   * from the worker's own flags, not from Redis: whoever can write to Redis could raise them there.
   */
  limits?: Partial<ServerLimits>;
  /** Skip the warm-up job that loads the network before the first job is taken (default: warm up). */
  skipWarmUp?: boolean;
  log?: (message: string) => void;
}

export interface RunningWorker {
  /** Stop taking jobs; abort running ones and put them back in the queue; disconnect. */
  close(): Promise<void>;
}

/** Why a job's AbortSignal fired (BullMQ passes the reason to AbortController.abort). */
const CANCELLED = 'cancelled';
const STOPPING = 'worker stopping';
const LOCK_LOST = 'lock lost';

/** Status writes of a running job (progress) happen at most this often; state changes are written at once. */
const PROGRESS_WRITE_MS = 1000;

type Log = (message: string) => void;
type StylizeJob = Job<{ spec: JobSpec }>;

/** The worker's connections to Redis: one for commands, one subscribed to the cancel channel. */
interface Connections {
  redis: Redis;
  subscriber: Redis;
  keys: RedisKeys;
  records: JobRecords;
}

/** What every job of this worker runs with. */
interface WorkerContext {
  opts: WorkerOptions;
  records: JobRecords;
  /** The shared data dir (no init(): the servers own its layout). */
  store: JobStore;
  limits: ServerLimits;
  stylizers: StylizerSlots;
  log: Log;
}

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const log = opts.log ?? (() => {});
  const connections = await connect(opts, log);
  let stylizers: StylizerSlots;
  try {
    stylizers = await StylizerSlots.load(opts, log);
  } catch (err) {
    connections.redis.disconnect();
    connections.subscriber.disconnect();
    throw err;
  }
  const context: WorkerContext = { opts, records: connections.records, store: new JobStore(opts.dataDir), limits: resolveLimits(opts.limits), stylizers, log };
  const worker = openBullWorker(context, connections, (job, token, signal) => processJob(context, job, token, signal));
  await listenForCancels(connections, worker, log);
  await worker.waitUntilReady();
  let closed: Promise<void> | undefined;
  return { close: () => (closed ??= stop(worker, stylizers, connections)) };
}

async function connect(opts: WorkerOptions, log: Log): Promise<Connections> {
  const keys = new RedisKeys(opts.prefix ?? DEFAULT_PREFIX);
  const redis = await connectRedis(opts.redisUrl, { onError: (err) => log(`redis: ${firstLine(err)}`) });
  const subscriber = redis.duplicate();
  subscriber.on('error', () => {});
  const records = new JobRecords(redis, keys, (id, why) => log(`job ${id}: its record in Redis is unusable: ${why}`));
  return { redis, subscriber, keys, records };
}

/**
 * One Stylizer per job slot, kept for the worker's life: the network and its sessions are loaded
 * once, not per job. Loaded before the first job is taken, so no job waits for it and no job's
 * lock goes unrenewed while the (partly synchronous) session build runs.
 */
class StylizerSlots {
  private constructor(private readonly idle: Stylizer[]) {}

  static async load(opts: WorkerOptions, log: Log): Promise<StylizerSlots> {
    const idle: Stylizer[] = [];
    try {
      for (let i = 0; i < (opts.concurrency ?? 1); i++) idle.push(await createStylizer({ weights: opts.weights, threads: opts.threads }));
      if (!opts.skipWarmUp) {
        const t0 = performance.now();
        await Promise.all(idle.map((s) => warmUp(s)));
        log(`network loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
    } catch (err) {
      await Promise.all(idle.map((s) => s.close()));
      throw err;
    }
    return new StylizerSlots(idle);
  }

  /** Run `use` on a free Stylizer (BullMQ runs at most `concurrency` jobs at once, so one is free). */
  async use<T>(use: (stylizer: Stylizer) => Promise<T>): Promise<T> {
    const stylizer = this.idle.pop()!;
    try {
      return await use(stylizer);
    } finally {
      this.idle.push(stylizer);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.idle.map((s) => s.close()));
  }
}

/** A tiny job with the default options: reads the weights and builds the default layout's sessions. */
async function warmUp(stylizer: Stylizer): Promise<void> {
  const image = (shade: number) => ({ data: new Uint8Array(32 * 32 * 3).fill(shade), width: 32, height: 32, channels: 3 as const });
  await stylizer.stylize({ content: image(100), style: image(200), size: 32, iterations: 1, scaleIterations: 0 });
}

/**
 * One attempt at one job, BullMQ's processor: read the job's record, check it, run it, and write
 * how it ended. Redis is not trusted (README "Trust model"): the job is its id; its spec comes from
 * its record, checked like a new job's (stored-job.ts), and BullMQ's copy in job.data is not used.
 */
async function processJob(ctx: WorkerContext, job: StylizeJob, token: string | undefined, signal: AbortSignal | undefined): Promise<object> {
  const attempt = job.attemptsStarted;
  const id = job.id ?? '';
  if (!isJobId(id)) throw new UnrecoverableError(`not a job id: ${JSON.stringify(id).slice(0, 60)}`);
  let record: JobRecord | undefined;
  try {
    record = await ctx.records.get(id);
  } catch (err) {
    if (!(err instanceof BadRecordError)) throw err;
    return refuse(ctx, attempt, err.message, { id, status: 'queued', createdAt: new Date(job.timestamp).toISOString(), result: false, previewVersion: 0 });
  }
  if (!record) throw new UnrecoverableError(`job ${id} has no record in Redis`);
  const { spec } = record;
  // Finished by an earlier attempt whose completion BullMQ did not take (its lock had expired): nothing to do.
  if (isTerminal(record.status.status)) return { alreadyFinished: true };
  try {
    checkRunnable(spec, ctx.limits);
  } catch (err) {
    return refuse(ctx, attempt, firstLine(err), record.status);
  }
  const status = new AttemptStatus(ctx, spec.id, record.status, attempt);
  if (await ctx.records.cancelRequested(spec.id)) {
    await status.change({ status: 'cancelled', error: 'cancelled before it started', finishedAt: new Date().toISOString() });
    return { cancelled: true };
  }
  await status.change({ status: 'running', startedAt: status.current.startedAt ?? new Date().toISOString(), attempts: attempt, error: undefined });
  ctx.log(`job ${spec.id}: started (attempt ${attempt})`);
  try {
    const { seconds } = await runJob(ctx, spec, status, signal ?? new AbortController().signal);
    await status.flushed();
    await status.change({ status: 'done', seconds, result: true, finishedAt: new Date().toISOString() });
    ctx.log(`job ${spec.id}: done in ${seconds.toFixed(1)} s (attempt ${attempt})`);
    return { seconds };
  } catch (err) {
    await status.flushed();
    return endAttempt(ctx, job, token, status, err, signal?.reason);
  }
}

/** A job that cannot run anywhere (a bad record, past this worker's limits): it fails, and BullMQ must not retry it. */
async function refuse(ctx: WorkerContext, attempt: number, why: string, status: RemoteJobStatus): Promise<never> {
  const error = `refused: ${why}`;
  const failed: RemoteJobStatus = { ...status, status: 'failed', error, result: false, finishedAt: new Date().toISOString() };
  await ctx.records.writeStatus(failed, attempt);
  await ctx.store.writeStatus(failed).catch(() => {});
  ctx.log(`job ${status.id}: ${error}`);
  throw new UnrecoverableError(error);
}

/**
 * The job's status as this attempt writes it to its record: a state change at once (and refused
 * when a later attempt has taken the job over), progress at most every PROGRESS_WRITE_MS.
 */
class AttemptStatus {
  private lastWrite = 0;
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: WorkerContext,
    private readonly id: string,
    public current: RemoteJobStatus,
    private readonly attempt: number,
  ) {}

  async change(change: Partial<RemoteJobStatus>): Promise<void> {
    this.current = { ...this.current, ...change };
    if (!(await this.ctx.records.writeStatus(this.current, this.attempt))) throw new UnrecoverableError(`job ${this.id} was taken over by a later attempt`);
    // The job folder's status.json follows the final state too, so the data dir alone tells what became of each job.
    if (isTerminal(this.current.status)) await this.ctx.store.writeStatus(this.current).catch((err) => this.ctx.log(`job ${this.id}: cannot save status.json: ${firstLine(err)}`));
  }

  /** A progress event: published to every server at once, kept in the record now and then. */
  event(event: JobEvent): void {
    if (event.type === 'iteration') this.current = { ...this.current, progress: iterationUpdate(event).progress };
    else if (event.type === 'preview') this.current = { ...this.current, previewVersion: event.version };
    void this.ctx.records.publish(this.id, event).catch(() => {});
    if (Date.now() - this.lastWrite > PROGRESS_WRITE_MS) {
      this.lastWrite = Date.now();
      const snapshot = this.current;
      this.writing = this.writing.then(() => this.ctx.records.writeStatus(snapshot, this.attempt)).catch(() => {});
    }
  }

  /** Wait for the progress writes under way (the final state must be written after them). */
  async flushed(): Promise<void> {
    await this.writing;
  }
}

/** Run the job on a free Stylizer, resumable: from its checkpoint when an earlier attempt left one. */
async function runJob(ctx: WorkerContext, spec: JobSpec, status: AttemptStatus, signal: AbortSignal): Promise<{ seconds: number }> {
  const { weights, threads } = ctx.opts;
  const previewBase = status.current.previewVersion;
  return ctx.stylizers.use((stylizer) =>
    executeJob(
      { stylize: (options) => stylizer.stylize({ ...options, weights, threads }) },
      { spec, dir: ctx.store.dir(spec.id) },
      { maxPixels: ctx.limits.maxPixels },
      {
        signal,
        onEvent: (event) => status.event(event),
        // The job's frames count on from the version it had reached.
        onPreview: (n) => status.event({ type: 'preview', url: previewUrl(spec.id, previewBase + n), version: previewBase + n }),
        // A cancel ends the job (its last image kept as the result); a stop or a lost lock pauses it for another attempt.
        keepPartialOnAbort: () => signal.reason === CANCELLED,
        inputHint: 'is --data-dir the same shared directory for the server and every worker?',
        resumable: { files: ctx.store, log: ctx.log },
      },
    ),
  );
}

/** How an attempt that did not finish ends: put back (stopping, lock lost), cancelled, or failed for good. */
async function endAttempt(ctx: WorkerContext, job: StylizeJob, token: string | undefined, status: AttemptStatus, err: unknown, reason: unknown): Promise<object> {
  const id = status.current.id;
  if (err instanceof AbortError && reason === STOPPING) {
    // Shutting down: hand the job back now rather than after its lock expires.
    await job.moveToWait(token);
    ctx.log(`job ${id}: put back in the queue (worker stopping)`);
    throw new WaitingError();
  }
  if (err instanceof AbortError && reason === LOCK_LOST) {
    // Another worker has it (or will have it) now; its attempt writes the record from here on.
    ctx.log(`job ${id}: stopped, its lock expired (this process was too busy to renew it)`);
    throw new WaitingError();
  }
  if (err instanceof UnrecoverableError) throw err;
  const result = await ctx.store.has(id, 'result.png');
  if (err instanceof AbortError) {
    await status.change({ status: 'cancelled', error: 'cancelled', result, finishedAt: new Date().toISOString() });
    ctx.log(`job ${id}: cancelled`);
    return { cancelled: true };
  }
  const message = err instanceof StyleTransferError ? err.message : `internal error: ${firstLine(err)}`;
  if (!(err instanceof StyleTransferError)) ctx.log(`job ${id} failed: ${(err as Error)?.stack ?? String(err)}`);
  await status.change({ status: 'failed', error: message, result, finishedAt: new Date().toISOString() });
  // Unrecoverable: a bad input fails the same way on every worker, so BullMQ must not retry it.
  throw new UnrecoverableError(message);
}

/** BullMQ's Worker on the queue, with the lock and stall settings; a job it gives up on is marked failed. */
function openBullWorker(
  ctx: WorkerContext,
  connections: Connections,
  processor: (job: StylizeJob, token: string | undefined, signal: AbortSignal | undefined) => Promise<object>,
): Worker<{ spec: JobSpec }> {
  const { opts, log } = ctx;
  const worker = new Worker<{ spec: JobSpec }>(QUEUE_NAME, processor, {
    connection: connections.redis,
    prefix: connections.keys.prefix,
    concurrency: opts.concurrency ?? 1,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.stalledIntervalMs ?? 15_000,
    maxStalledCount: opts.maxStalledCount ?? 2,
    removeOnComplete: { count: 0 },
    removeOnFail: { count: 1000 },
  });
  worker.on('error', (err) => log(`worker: ${firstLine(err)}`));
  worker.on('stalled', (id) => log(`job ${id}: its worker stopped answering; back in the queue`));
  worker.on('lockRenewalFailed', (ids) => ids.forEach((id) => worker.cancelJob(id, LOCK_LOST)));
  worker.on('failed', (job, err) => {
    if (job && /stalled more than allowable limit/.test(err.message)) void markStalledOut(ctx.records, job, err.message);
  });
  return worker;
}

/** A job BullMQ gave up on after too many takeovers: its record says so (no worker is left to write it). */
async function markStalledOut(records: JobRecords, job: StylizeJob, reason: string): Promise<void> {
  const record = job.id && isJobId(job.id) ? await records.get(job.id).catch(() => undefined) : undefined;
  if (!record || ['done', 'failed', 'cancelled'].includes(record.status.status)) return;
  const status: RemoteJobStatus = { ...record.status, status: 'failed', error: `its worker died ${job.attemptsStarted} times (${reason})`, finishedAt: new Date().toISOString() };
  await records.writeStatus(status, Number.MAX_SAFE_INTEGER).catch(() => {});
}

/** A server publishes a job's id on the cancel channel; the worker that runs it aborts it. */
async function listenForCancels(connections: Connections, worker: Worker, log: Log): Promise<void> {
  await connections.subscriber.subscribe(connections.keys.cancel);
  connections.subscriber.on('message', (_channel: string, id: string) => {
    if (worker.cancelJob(id, CANCELLED)) log(`job ${id}: cancel requested`);
  });
}

/** Stop taking jobs, abort the running ones (they go back to the queue), release the network, disconnect. */
async function stop(worker: Worker, stylizers: StylizerSlots, connections: Connections): Promise<void> {
  const stopping = worker.close();
  worker.cancelAllJobs(STOPPING);
  await stopping;
  await stylizers.close();
  await connections.subscriber.quit().catch(() => connections.subscriber.disconnect());
  await connections.redis.quit().catch(() => connections.redis.disconnect());
}
