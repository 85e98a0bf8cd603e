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
 * Cancel: a server publishes the job id on the cancel channel; the worker that runs it aborts the
 * job's AbortSignal (BullMQ's worker.cancelJob), and the library stops within one iteration.
 * SIGTERM: the worker stops taking jobs, aborts the ones it runs and puts them back in the queue
 * at once (they resume from their checkpoints elsewhere).
 */
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { AbortError, firstLine, StyleTransferError } from '../errors.js';
import { isTerminal, type JobEvent, type JobSpec } from '../jobs/job.js';
import { isJobId } from '../jobs/ids.js';
import { resolveLimits, type ServerLimits } from '../jobs/limits.js';
import { BadRecordError, checkRunnable } from '../jobs/stored-job.js';
import { connectRedis, DEFAULT_PREFIX, JobRecords, QUEUE_NAME, RedisKeys, type JobRecord, type RemoteJobStatus } from '../queue/redis-jobs.js';
import { JobStore } from '../jobs/job-store.js';
import { createStylizer, type Stylizer } from '../stylize.js';
import { executeJob, type StylizeFn } from '../jobs/execute.js';

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

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const log = opts.log ?? (() => {});
  const keys = new RedisKeys(opts.prefix ?? DEFAULT_PREFIX);
  const redis = await connectRedis(opts.redisUrl, { onError: (err) => log(`redis: ${firstLine(err)}`) });
  const subscriber = redis.duplicate();
  subscriber.on('error', () => {});
  const records = new JobRecords(redis, keys, (id, why) => log(`job ${id}: its record in Redis is unusable: ${why}`));
  const limits = resolveLimits(opts.limits);
  // No store.init(): the servers own the data dir's layout.
  const store = new JobStore(opts.dataDir);
  // One Stylizer per job slot, kept for the worker's life: the network and its sessions are
  // loaded once, not per job. Loaded before the first job is taken, so no job waits for it and no
  // job's lock goes unrenewed while the (partly synchronous) session build runs.
  const concurrency = opts.concurrency ?? 1;
  const idle: Stylizer[] = [];
  try {
    for (let i = 0; i < concurrency; i++) idle.push(await createStylizer({ weights: opts.weights, threads: opts.threads }));
    if (!opts.skipWarmUp) {
      const t0 = performance.now();
      await Promise.all(idle.map((s) => warmUp(s)));
      log(`network loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } catch (err) {
    await Promise.all(idle.map((s) => s.close()));
    redis.disconnect();
    subscriber.disconnect();
    throw err;
  }
  const withStylizer = async <T>(use: (run: StylizeFn) => Promise<T>): Promise<T> => {
    const stylizer = idle.pop()!;
    try {
      return await use((options) => stylizer.stylize(options));
    } finally {
      idle.push(stylizer);
    }
  };

  const processor = async (job: Job<{ spec: JobSpec }>, token: string | undefined, signal: AbortSignal | undefined) => {
    const attempt = job.attemptsStarted;
    // Redis is not trusted (README "Trust model"): the job is its id; its spec comes from its record,
    // checked like a new job's (stored-job.ts), and BullMQ's copy in job.data is not used.
    const id = job.id ?? '';
    if (!isJobId(id)) throw new UnrecoverableError(`not a job id: ${JSON.stringify(id).slice(0, 60)}`);
    const refuse = async (why: string, status: RemoteJobStatus) => {
      const error = `refused: ${why}`;
      const failed: RemoteJobStatus = { ...status, status: 'failed', error, result: false, finishedAt: new Date().toISOString() };
      await records.writeStatus(failed, attempt);
      await store.writeStatus(failed).catch(() => {});
      log(`job ${id}: ${error}`);
      throw new UnrecoverableError(error);
    };
    let record: JobRecord | undefined;
    try {
      record = await records.get(id);
    } catch (err) {
      if (!(err instanceof BadRecordError)) throw err;
      return refuse(err.message, { id, status: 'queued', createdAt: new Date(job.timestamp).toISOString(), result: false, previewVersion: 0 });
    }
    if (!record) throw new UnrecoverableError(`job ${id} has no record in Redis`);
    const spec = record.spec;
    let status: RemoteJobStatus = record.status;
    // Finished by an earlier attempt whose completion BullMQ did not take (its lock had expired): nothing to do.
    if (isTerminal(status.status)) return { alreadyFinished: true };
    try {
      checkRunnable(spec, limits);
    } catch (err) {
      return refuse(firstLine(err), status);
    }
    const write = async (change: Partial<RemoteJobStatus>) => {
      status = { ...status, ...change };
      if (!(await records.writeStatus(status, attempt))) throw new UnrecoverableError(`job ${spec.id} was taken over by a later attempt`);
      // The job folder's status.json follows the final state too, so the data dir alone tells what became of each job.
      if (isTerminal(status.status)) await store.writeStatus(status).catch((err) => log(`job ${spec.id}: cannot save status.json: ${firstLine(err)}`));
    };
    if (await records.cancelRequested(spec.id)) {
      await write({ status: 'cancelled', error: 'cancelled before it started', finishedAt: new Date().toISOString() });
      return { cancelled: true };
    }
    await write({ status: 'running', startedAt: status.startedAt ?? new Date().toISOString(), attempts: attempt, error: undefined });
    log(`job ${spec.id}: started (attempt ${attempt})`);

    let lastWrite = 0;
    let writing: Promise<unknown> = Promise.resolve();
    const emit = (event: JobEvent) => {
      if (event.type === 'iteration') {
        const { scale, scales, iteration, iterations, width, height, loss, elapsed, eta } = event;
        status = { ...status, progress: { scale, scales, iteration, iterations, width, height, loss, elapsed, eta } };
      } else if (event.type === 'preview') {
        status = { ...status, previewVersion: event.version };
      }
      void records.publish(spec.id, event).catch(() => {});
      if (Date.now() - lastWrite > PROGRESS_WRITE_MS) {
        lastWrite = Date.now();
        const snapshot = status;
        writing = writing.then(() => records.writeStatus(snapshot, attempt)).catch(() => {});
      }
    };

    try {
      const { seconds } = await withStylizer((run) =>
        executeJob(
          store,
          spec,
          run,
          { weights: opts.weights, threads: opts.threads, maxPixels: limits.maxPixels },
          { signal: signal ?? new AbortController().signal, emit, previewBase: status.previewVersion, abortEndsJob: () => signal?.reason === CANCELLED, log },
        ),
      );
      await writing;
      await write({ status: 'done', seconds, result: true, finishedAt: new Date().toISOString() });
      log(`job ${spec.id}: done in ${seconds.toFixed(1)} s (attempt ${attempt})`);
      return { seconds };
    } catch (err) {
      await writing;
      if (err instanceof AbortError && signal?.reason === STOPPING) {
        // Shutting down: hand the job back now rather than after its lock expires.
        await job.moveToWait(token);
        log(`job ${spec.id}: put back in the queue (worker stopping)`);
        throw new WaitingError();
      }
      if (err instanceof AbortError && signal?.reason === LOCK_LOST) {
        // Another worker has it (or will have it) now; its attempt writes the record from here on.
        log(`job ${spec.id}: stopped, its lock expired (this process was too busy to renew it)`);
        throw new WaitingError();
      }
      if (err instanceof UnrecoverableError) throw err;
      const result = await store.has(spec.id, 'result.png');
      if (err instanceof AbortError) {
        await write({ status: 'cancelled', error: 'cancelled', result, finishedAt: new Date().toISOString() });
        log(`job ${spec.id}: cancelled`);
        return { cancelled: true };
      }
      const message = err instanceof StyleTransferError ? err.message : `internal error: ${firstLine(err)}`;
      if (!(err instanceof StyleTransferError)) log(`job ${spec.id} failed: ${(err as Error)?.stack ?? String(err)}`);
      await write({ status: 'failed', error: message, result, finishedAt: new Date().toISOString() });
      // Unrecoverable: a bad input fails the same way on every worker, so BullMQ must not retry it.
      throw new UnrecoverableError(message);
    }
  };

  const worker = new Worker<{ spec: JobSpec }>(QUEUE_NAME, processor, {
    connection: redis,
    prefix: keys.prefix,
    concurrency,
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
    if (job && /stalled more than allowable limit/.test(err.message)) void markStalledOut(records, job, err.message);
  });

  await subscriber.subscribe(keys.cancel);
  subscriber.on('message', (_channel: string, id: string) => {
    if (worker.cancelJob(id, CANCELLED)) log(`job ${id}: cancel requested`);
  });
  await worker.waitUntilReady();

  let closed: Promise<void> | undefined;
  return {
    close: () =>
      (closed ??= (async () => {
        const stopping = worker.close();
        worker.cancelAllJobs(STOPPING);
        await stopping;
        await Promise.all(idle.map((s) => s.close()));
        await subscriber.quit().catch(() => subscriber.disconnect());
        await redis.quit().catch(() => redis.disconnect());
      })()),
  };
}

/** A tiny job with the default options: reads the weights and builds the default layout's sessions. */
async function warmUp(stylizer: Stylizer): Promise<void> {
  const image = (shade: number) => ({ data: new Uint8Array(32 * 32 * 3).fill(shade), width: 32, height: 32, channels: 3 as const });
  await stylizer.stylize({ content: image(100), style: image(200), size: 32, iterations: 1, scaleIterations: 0 });
}

/** A job BullMQ gave up on after too many takeovers: its record says so (no worker is left to write it). */
async function markStalledOut(records: JobRecords, job: Job<{ spec: JobSpec }>, reason: string): Promise<void> {
  const record = job.id && isJobId(job.id) ? await records.get(job.id).catch(() => undefined) : undefined;
  if (!record || ['done', 'failed', 'cancelled'].includes(record.status.status)) return;
  const status: RemoteJobStatus = { ...record.status, status: 'failed', error: `its worker died ${job.attemptsStarted} times (${reason})`, finishedAt: new Date().toISOString() };
  await records.writeStatus(status, Number.MAX_SAFE_INTEGER).catch(() => {});
}
