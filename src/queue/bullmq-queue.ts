/**
 * The job queue on Redis (BullMQ), for `style-transfer serve --redis URL`: this server stores the
 * uploads on the shared data dir, writes the job's record and adds it to BullMQ's queue; worker
 * processes (`style-transfer worker`, src/worker/) run it. Any number of servers and workers share
 * one Redis.
 *
 * The HTTP layer reads jobs synchronously (JobQueue.get/list), so every server keeps a mirror of
 * the records: loaded at start and after every reconnection, kept current by the events channel,
 * on which workers publish progress and every writer publishes status changes. Queue positions
 * come from BullMQ's wait list, read again after every change.
 *
 * While Redis is unreachable the job API answers 503 (the mirror may be stale, and a new job could
 * not be queued); the client reconnects on its own and the mirror is reloaded when it is back.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { firstLine } from '../errors.js';
import { JobFinishedError, JobStateError, QueueClosedError, QueueFullError } from './errors.js';
import { isJobId } from '../jobs/ids.js';
import { isTerminal, iterationUpdate, previewUrl, type JobEvent, type JobView, type LossPoint } from '../jobs/events.js';
import type { JobSpec } from '../jobs/job.js';
import { jobView, type JobListener, type JobQueue } from './queue.js';
import {
  connectRedis,
  DEFAULT_PREFIX,
  JOB_NAME,
  JobRecords,
  QUEUE_NAME,
  RedisKeys,
  RedisUnavailableError,
  showUrl,
  statusEvent,
  type EventMessage,
  type JobRecord,
  type RemoteJobStatus,
} from './redis-jobs.js';
import { readHistory } from '../jobs/job-files.js';
import { checkJobStatus } from '../jobs/stored-job.js';
import type { JobInputs, JobStore } from '../jobs/job-store.js';

export interface BullQueueOptions {
  redisUrl: string;
  maxQueuedJobs: number;
  prefix?: string;
  /** How long DELETE waits for a running job's worker to stop it (default 10 s). */
  cancelTimeoutMs?: number;
  log?: (message: string) => void;
}

/** Redis cannot be reached now: the server answers 503 (as for a closed queue) until it is back. */
export class QueueUnavailableError extends QueueClosedError {}

interface Entry {
  spec: JobSpec;
  status: RemoteJobStatus;
  position?: number;
  listeners: Set<JobListener>;
  /** Loss points heard live by this server for the current attempt (the worker saves the rest in history.json). */
  live: LossPoint[];
}

const MAX_LIVE_POINTS = 4000;

export class BullJobQueue implements JobQueue {
  private readonly entries = new Map<string, Entry>();
  private available = true;
  private positionsDirty = false;
  private positionsRunning: Promise<void> | undefined;
  private closing = false;

  private constructor(
    private readonly store: JobStore,
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly queue: Queue,
    private readonly records: JobRecords,
    private readonly opts: BullQueueOptions,
  ) {}

  /** Connect (a one-line RedisUnavailableError naming the URL when Redis cannot be reached), load the records, start listening. */
  static async open(store: JobStore, opts: BullQueueOptions): Promise<BullJobQueue> {
    const log = opts.log ?? (() => {});
    const redis = await connectRedis(opts.redisUrl, { onError: () => {} });
    const subscriber = redis.duplicate();
    subscriber.on('error', () => {});
    const keys = new RedisKeys(opts.prefix ?? DEFAULT_PREFIX);
    const queue = new Queue(QUEUE_NAME, { connection: redis, prefix: keys.prefix });
    queue.on('error', () => {});
    const records = new JobRecords(redis, keys, (id, why) => log(`skipping job ${id} in Redis: ${why}`));
    const self = new BullJobQueue(store, redis, subscriber, queue, records, opts);
    subscriber.on('message', (_channel: string, text: string) => self.onMessage(text));
    try {
      await subscriber.subscribe(keys.events);
      await self.reload();
    } catch (err) {
      // Reachable but refusing (a password, a read-only replica): still one line naming the URL.
      await self.close();
      throw new RedisUnavailableError(`Redis at ${showUrl(opts.redisUrl)} refused the queue's commands: ${firstLine(err)}`);
    }
    // Lost and found again: reload everything, since events sent meanwhile were missed.
    redis.on('close', () => {
      if (self.available && !self.closing) log(`lost the connection to Redis at ${showUrl(opts.redisUrl)}; the job API answers 503 until it is back`);
      self.available = false;
    });
    redis.on('ready', () => {
      if (self.closing) return;
      void self.reload().then(
        () => {
          if (!self.available) log(`connected to Redis at ${showUrl(opts.redisUrl)} again`);
          self.available = true;
        },
        (err) => log(`cannot reload the jobs from Redis: ${firstLine(err)}`),
      );
    });
    return self;
  }

  hasRoom(): boolean {
    this.checkAvailable();
    let queued = 0;
    for (const e of this.entries.values()) if (e.status.status === 'queued') queued++;
    return !this.closing && queued < this.opts.maxQueuedJobs;
  }

  async enqueue(spec: JobSpec, inputs: JobInputs): Promise<JobView> {
    this.checkAvailable();
    if (!this.hasRoom()) throw new QueueFullError(`the queue is full (${this.opts.maxQueuedJobs} jobs waiting); try again later`);
    const status: RemoteJobStatus = { id: spec.id, status: 'queued', createdAt: spec.createdAt, result: false, previewVersion: 0, attempts: 0 };
    await this.store.create(spec, inputs, status);
    const entry = this.entryFor({ spec, status });
    await this.records.create(spec, status);
    await this.queue.add(JOB_NAME, { spec }, { jobId: spec.id });
    this.schedulePositions();
    return this.view(entry);
  }

  get(id: string): JobView | undefined {
    this.checkAvailable();
    const entry = this.entries.get(id);
    return entry && this.view(entry);
  }

  list(filter: { owner?: string } = {}): JobView[] {
    this.checkAvailable();
    return [...this.entries.values()]
      .filter((e) => filter.owner === undefined || e.spec.owner === filter.owner)
      .sort((a, b) => b.spec.createdAt.localeCompare(a.spec.createdAt))
      .map((e) => this.view(e));
  }

  async remove(id: string): Promise<boolean> {
    this.checkAvailable();
    const entry = this.entries.get(id);
    if (!entry) return false;
    if (!isTerminal(entry.status.status)) throw new JobStateError(`job ${id} is ${entry.status.status}; cancel it first`);
    await this.records.remove(id);
    this.entries.delete(id);
    await this.store.remove(id);
    return true;
  }

  async cancel(id: string): Promise<JobView | undefined> {
    this.checkAvailable();
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (isTerminal(entry.status.status)) throw new JobFinishedError(`job ${id} has already finished (${entry.status.status})`);
    const stopped = this.waitForEnd(entry, this.opts.cancelTimeoutMs ?? 10_000);
    // The flag first: a worker that takes the job from now on sees it; the message reaches the one running it.
    await this.records.requestCancel(id);
    const job = await this.queue.getJob(id);
    if (!job || (await job.isWaiting())) {
      const removed = job
        ? await job.remove().then(
            () => true,
            () => false,
          )
        : true;
      if (removed) {
        const status: RemoteJobStatus = { ...entry.status, status: 'cancelled', error: 'cancelled before it started', finishedAt: new Date().toISOString() };
        // No worker has it, and none will: this write is final.
        await this.records.writeStatus(status, Number.MAX_SAFE_INTEGER);
        await this.store.writeStatus(status).catch(() => {});
      }
    }
    await stopped;
    return this.view(entry);
  }

  async subscribe(id: string, listener: JobListener): Promise<(() => void) | undefined> {
    this.checkAvailable();
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    const history = await this.history(entry);
    if (history.length > 0) listener({ type: 'history', points: history });
    if (entry.status.previewVersion > 0) listener({ type: 'preview', url: previewUrl(id, entry.status.previewVersion), version: entry.status.previewVersion });
    listener(statusEvent(entry.status, entry.position));
    if (isTerminal(entry.status.status)) return () => {};
    entry.listeners.add(listener);
    return () => entry.listeners.delete(listener);
  }

  /** Stop listening and disconnect; the jobs go on (on the workers) and stay in Redis. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const entry of this.entries.values()) entry.listeners.clear();
    await this.queue.close().catch(() => {});
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private checkAvailable(): void {
    if (!this.available || this.closing)
      throw new QueueUnavailableError(`the job queue is unavailable (Redis at ${showUrl(this.opts.redisUrl)} cannot be reached); try again shortly`);
  }

  private entryFor(record: JobRecord): Entry {
    let entry = this.entries.get(record.spec.id);
    if (!entry) {
      entry = { spec: record.spec, status: record.status, listeners: new Set(), live: [] };
      this.entries.set(record.spec.id, entry);
    }
    return entry;
  }

  /**
   * Load every record; tell listeners of the jobs whose state changed meanwhile. Jobs Redis no
   * longer has (it came back without its data) are forgotten, and their streams end.
   */
  private async reload(): Promise<void> {
    const records = await this.records.all();
    const present = new Set(records.map((r) => r.spec.id));
    for (const [id, entry] of this.entries) {
      if (present.has(id)) continue;
      this.broadcast(entry, { type: 'status', status: 'failed', error: 'the job queue lost this job (Redis restarted without its data)', result: false });
      this.entries.delete(id);
    }
    for (const record of records) {
      const known = this.entries.has(record.spec.id);
      const entry = this.entryFor(record);
      if (known) this.applyStatus(entry, record.status);
    }
    await this.refreshPositions();
  }

  private onMessage(text: string): void {
    let message: EventMessage;
    try {
      message = JSON.parse(text) as EventMessage;
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null || !isJobId(message.id)) return;
    if (message.removed) {
      this.entries.delete(message.id);
      return;
    }
    const entry = this.entries.get(message.id);
    if (!entry) {
      // A job another server created: its record has the spec.
      if (message.status)
        void this.records.get(message.id).then(
          (record) => record && this.entryFor(record) && this.schedulePositions(),
          () => {},
        );
      return;
    }
    if (message.status) {
      // Anyone who can write to Redis can publish: a status is used only if it passes the record checks.
      try {
        checkJobStatus(message.status, message.id);
      } catch {
        return;
      }
      this.applyStatus(entry, message.status);
      this.schedulePositions();
      return;
    }
    const event = message.event;
    if (!event) return;
    if (event.type === 'iteration') {
      const { progress, point } = iterationUpdate(event);
      entry.status = { ...entry.status, progress };
      entry.live.push(point);
      if (entry.live.length > MAX_LIVE_POINTS) entry.live.splice(0, entry.live.length - MAX_LIVE_POINTS);
    } else if (event.type === 'preview') {
      entry.status = { ...entry.status, previewVersion: Math.max(entry.status.previewVersion, event.version) };
    }
    this.broadcast(entry, event);
  }

  private applyStatus(entry: Entry, status: RemoteJobStatus): void {
    const before = entry.status;
    // Progress travels in events; a status write may carry an older snapshot of it.
    entry.status = { ...status, previewVersion: Math.max(status.previewVersion, before.status === status.status ? before.previewVersion : 0) };
    if (status.attempts !== before.attempts) entry.live = [];
    if (before.status !== status.status || before.error !== status.error || before.result !== status.result) this.broadcast(entry, statusEvent(entry.status, entry.position));
    if (isTerminal(status.status)) entry.listeners.clear();
  }

  /** Re-read the queue's order soon; several changes in a row cost one read. */
  private schedulePositions(): void {
    this.positionsDirty = true;
    this.positionsRunning ??= (async () => {
      try {
        while (this.positionsDirty && !this.closing) {
          this.positionsDirty = false;
          await this.refreshPositions();
        }
      } catch {
        // Redis went away; reload() recomputes them when it is back.
      } finally {
        this.positionsRunning = undefined;
      }
    })();
  }

  private async refreshPositions(): Promise<void> {
    // The wait list in the order workers take jobs from it (oldest first; a job back from a dead worker first of all).
    const ids = await this.queue.getRanges(['wait'], 0, -1, true);
    const order = new Map(ids.map((id, i) => [id, i + 1]));
    let place = 0;
    const ranked = [...this.entries.values()]
      .filter((e) => e.status.status === 'queued')
      .sort((a, b) => (order.get(a.spec.id) ?? Infinity) - (order.get(b.spec.id) ?? Infinity) || a.spec.createdAt.localeCompare(b.spec.createdAt));
    const positions = new Map<Entry, number>();
    for (const entry of ranked) positions.set(entry, ++place);
    for (const entry of this.entries.values()) {
      const position = positions.get(entry);
      if (position !== entry.position) {
        entry.position = position;
        if (position !== undefined) this.broadcast(entry, statusEvent(entry.status, position));
      }
    }
  }

  /** The loss history: what the worker saved, then what this server heard since. */
  private async history(entry: Entry): Promise<LossPoint[]> {
    const saved = await readHistory(this.store, entry.spec.id);
    const last = saved[saved.length - 1];
    const after = (p: LossPoint) => !last || p.scale > last.scale || (p.scale === last.scale && p.iteration > last.iteration);
    return [...saved, ...entry.live.filter(after)];
  }

  private waitForEnd(entry: Entry, timeoutMs: number): Promise<void> {
    if (isTerminal(entry.status.status)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        entry.listeners.delete(listener);
        resolve();
      };
      const listener: JobListener = (event) => {
        if (event.type === 'status' && isTerminal(event.status)) done();
      };
      const timer = setTimeout(done, timeoutMs);
      entry.listeners.add(listener);
    });
  }

  private broadcast(entry: Entry, event: JobEvent): void {
    for (const listener of [...entry.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.opts.log?.(`a listener of job ${entry.spec.id} failed: ${firstLine(err)}`);
      }
    }
  }

  private view(entry: Entry): JobView {
    return jobView(entry.spec, entry.status, entry.position);
  }
}
