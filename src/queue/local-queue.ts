/**
 * The embedded queue (the server runs its jobs itself, in runner processes): jobs wait in arrival
 * order and at most `concurrency` of them run at once. Waiting jobs are told their position;
 * subscribers hear every state change and progress event. The server's data dir holds each job's
 * files and state (JobStore), so waiting jobs survive a restart.
 *
 * A failed write (a full disk, a job folder removed by hand) never escapes: the job fails with a
 * message saying what could not be saved, and the queue goes on with the next one.
 */
import { AbortError, firstLine, StyleTransferError } from '../errors.js';
import { isTerminal, iterationUpdate, previewUrl, type JobEvent, type JobStatus, type JobView, type LossPoint } from '../jobs/events.js';
import type { JobSpec } from '../jobs/job.js';
import { jobView, type JobListener, type JobQueue } from './queue.js';
import { JobFinishedError, JobStateError, QueueClosedError, QueueFullError } from './errors.js';
import { readHistory } from '../jobs/job-files.js';
import type { ServerLimits } from '../jobs/limits.js';
import { checkRunnable } from '../jobs/stored-job.js';
import { describeWriteError, type JobInputs, type JobStore, type StoredJob } from '../jobs/job-store.js';

/** Runs one job to its end: resolves with its duration, rejects with AbortError when cancelled. */
export type RunJob = (spec: JobSpec, ctx: { signal: AbortSignal; emit: (event: JobEvent) => void }) => Promise<{ seconds: number }>;

/** How long finished jobs are kept (both optional; the oldest go first). */
export interface Retention {
  /** Finished jobs kept at most; older ones are deleted with their files. */
  maxJobs?: number;
  /** Finished jobs are deleted this many seconds after they finished. */
  maxAgeSeconds?: number;
}

interface Entry {
  spec: JobSpec;
  status: JobStatus;
  position?: number;
  listeners: Set<JobListener>;
  /** Loss per iteration, kept for subscribers that join late (undefined: still on disk, if anywhere). */
  history?: LossPoint[];
  lastPreview?: { url: string; version: number };
  controller?: AbortController;
  settled?: Promise<void>;
  lastPersist: number;
  /** The latest status write; the next one waits for it. */
  persisting: Promise<void>;
  /**
   * While a job's final state is being saved (finish): its status is already final in memory, so a
   * client may DELETE it meanwhile, and removing the folder under those writes failed (ENOTEMPTY, a
   * 500). Removal waits for it; retention passes the job over until it is saved.
   */
  finishing?: Promise<void>;
}

/** Iterations kept for the chart; a longer run keeps every other point, and so on. */
const MAX_HISTORY = 4000;
/** A running job's status.json is rewritten at most this often by default (state changes always write at once). */
const PERSIST_INTERVAL_MS = 2000;

export interface LocalJobQueueOptions {
  concurrency: number;
  maxQueuedJobs: number;
  log?: (message: string) => void;
  retention?: Retention;
  /** How often a running job's progress is saved, in ms (default 2000; tests use 0: every event). */
  persistIntervalMs?: number;
  /** The limits a queued job found on disk at start must pass again (default: none checked). */
  limits?: ServerLimits;
}

/** Why a stored job may not run under these limits, or undefined when it may. */
function refusalOf(spec: JobSpec, limits: ServerLimits): string | undefined {
  try {
    checkRunnable(spec, limits);
    return undefined;
  } catch (err) {
    return firstLine(err);
  }
}

export class LocalJobQueue implements JobQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly waiting: Entry[] = [];
  private readonly running = new Set<Entry>();
  private closing = false;

  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: JobStore,
    private readonly runJob: RunJob,
    private readonly opts: LocalJobQueueOptions,
  ) {
    if (opts.retention?.maxAgeSeconds) {
      // Age-based retention also runs while nothing finishes.
      const every = Math.min(3600, Math.max(1, opts.retention.maxAgeSeconds / 4)) * 1000;
      this.pruneTimer = setInterval(() => void this.prune(), every);
      this.pruneTimer.unref();
    }
  }

  /**
   * Take over the jobs found on disk. A job that was running when the server stopped cannot be
   * resumed (the optimiser's state is gone): it becomes `interrupted`, keeping its last preview
   * frame as its result. Jobs that were still waiting are queued again, in their original order.
   */
  async restore(stored: readonly StoredJob[]): Promise<void> {
    for (const { spec, status } of stored) {
      const entry: Entry = { spec, status, listeners: new Set(), lastPersist: 0, persisting: Promise.resolve() };
      this.entries.set(spec.id, entry);
      if (status.status === 'running') {
        // A result written just before the crash is the real one: never replace it with a preview.
        let result = await this.store.has(spec.id, 'result.png');
        if (!result && (await this.store.has(spec.id, 'preview.png'))) {
          result = await this.store.copy(spec.id, 'preview.png', 'result.png').then(
            () => true,
            (err) => (this.opts.log?.(`job ${spec.id}: ${describeWriteError(err, 'result.png')}`), false),
          );
        }
        entry.status = { ...status, status: 'interrupted', result, finishedAt: new Date().toISOString(), error: 'the server stopped while this job was running' };
        // On a full disk the new state lives in memory only; the server still starts.
        await this.store.writeStatus(entry.status).catch((err) => this.opts.log?.(`job ${spec.id}: ${describeWriteError(err, 'status.json')}`));
      } else if (status.status === 'queued') {
        // job.json may have been edited since it was accepted: it runs only within today's limits.
        const refusal = this.opts.limits && refusalOf(spec, this.opts.limits);
        if (refusal) await this.finish(entry, { status: 'failed', error: `refused: ${refusal}` });
        else this.waiting.push(entry);
      }
    }
    this.updatePositions();
    this.pump();
    await this.prune();
  }

  hasRoom(): boolean {
    return !this.closing && this.waiting.length < this.opts.maxQueuedJobs;
  }

  async enqueue(spec: JobSpec, inputs: JobInputs): Promise<JobView> {
    if (this.closing) throw new QueueClosedError('the server is shutting down');
    if (!this.hasRoom()) throw new QueueFullError(`the queue is full (${this.opts.maxQueuedJobs} jobs waiting); try again later`);
    const status: JobStatus = { id: spec.id, status: 'queued', createdAt: spec.createdAt, result: false, previewVersion: 0 };
    await this.store.create(spec, inputs, status);
    const entry: Entry = { spec, status, listeners: new Set(), history: [], lastPersist: 0, persisting: Promise.resolve() };
    this.entries.set(spec.id, entry);
    this.waiting.push(entry);
    this.updatePositions();
    this.pump();
    return this.view(entry);
  }

  get(id: string): JobView | undefined {
    const entry = this.entries.get(id);
    return entry && this.view(entry);
  }

  list(filter: { owner?: string } = {}): JobView[] {
    const entries = [...this.entries.values()].filter((e) => filter.owner === undefined || e.spec.owner === filter.owner);
    return entries.reverse().map((e) => this.view(e));
  }

  async remove(id: string): Promise<boolean> {
    const entry = this.entries.get(id);
    if (!entry) return false;
    if (!isTerminal(entry.status.status)) throw new JobStateError(`job ${id} is ${entry.status.status}; cancel it before deleting it`);
    this.entries.delete(id);
    await entry.finishing;
    await this.store.remove(id);
    return true;
  }

  async cancel(id: string): Promise<JobView | undefined> {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (isTerminal(entry.status.status)) throw new JobFinishedError(`job ${id} has already finished (${entry.status.status})`);
    const index = this.waiting.indexOf(entry);
    if (index >= 0) {
      this.waiting.splice(index, 1);
      await this.finish(entry, { status: 'cancelled', error: 'cancelled before it started' });
      this.updatePositions();
    } else {
      entry.controller?.abort();
      await entry.settled;
    }
    return this.view(entry);
  }

  async subscribe(id: string, listener: JobListener): Promise<(() => void) | undefined> {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.history === undefined) entry.history = await readHistory(this.store, id);
    // The status comes last: for a finished job it is the final event, after which a stream ends.
    if (entry.history.length > 0) listener({ type: 'history', points: [...entry.history] });
    const preview = entry.lastPreview ?? (entry.status.previewVersion > 0 ? { url: previewUrl(id, entry.status.previewVersion), version: entry.status.previewVersion } : undefined);
    if (preview) listener({ type: 'preview', ...preview });
    listener(this.statusEvent(entry));
    if (isTerminal(entry.status.status)) return () => {};
    entry.listeners.add(listener);
    return () => entry.listeners.delete(listener);
  }

  /** Stop taking jobs and stop the running ones; they end as `interrupted`, the waiting ones stay queued on disk. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pruneTimer);
    this.waiting.length = 0;
    const settling = [...this.running].map((e) => {
      e.controller?.abort();
      return e.settled;
    });
    await Promise.all(settling);
  }

  private pump(): void {
    while (!this.closing && this.running.size < this.opts.concurrency && this.waiting.length > 0) {
      const entry = this.waiting.shift()!;
      this.running.add(entry);
      // run() handles its own failures; this catch is the last line against a crash of the server.
      entry.settled = this.run(entry).catch((err) => this.opts.log?.(`job ${entry.spec.id}: ${(err as Error)?.stack ?? String(err)}`));
    }
    this.updatePositions();
  }

  private async run(entry: Entry): Promise<void> {
    const controller = new AbortController();
    entry.controller = controller;
    entry.history = [];
    entry.status = { ...entry.status, status: 'running', startedAt: new Date().toISOString() };
    let outcome: Partial<JobStatus> & { status: JobStatus['status'] };
    try {
      // The job cannot run if its folder cannot even take its status (removed, disk full).
      await this.persist(entry).catch((err) => Promise.reject(new JobStateError(describeWriteError(err, 'status.json'))));
      this.broadcast(entry, this.statusEvent(entry));
      const { seconds } = await this.runJob(entry.spec, { signal: controller.signal, emit: (e) => this.onJobEvent(entry, e) });
      outcome = { status: 'done', seconds };
    } catch (err) {
      if (this.closing) outcome = { status: 'interrupted', error: 'the server stopped while this job was running' };
      else if (err instanceof AbortError) outcome = { status: 'cancelled', error: 'cancelled' };
      else {
        const known = err instanceof StyleTransferError || err instanceof JobStateError;
        if (!known) this.opts.log?.(`job ${entry.spec.id} failed: ${(err as Error)?.stack ?? String(err)}`);
        outcome = { status: 'failed', error: known ? (err as Error).message : `internal error: ${firstLine(err)}` };
      }
    }
    this.running.delete(entry);
    entry.controller = undefined;
    await this.finish(entry, outcome);
    this.pump();
  }

  /**
   * Move a job to its final state: save its history and then, last, its status (so a crash in
   * between leaves the job `running` on disk, which a restart turns into `interrupted`); tell its
   * listeners, and let them go. A cancelled job's uploads are deleted. Never throws.
   */
  private finish(entry: Entry, outcome: Partial<JobStatus> & { status: JobStatus['status'] }): Promise<void> {
    entry.finishing = this.saveFinish(entry, outcome).finally(() => (entry.finishing = undefined));
    return entry.finishing;
  }

  private async saveFinish(entry: Entry, outcome: Partial<JobStatus> & { status: JobStatus['status'] }): Promise<void> {
    const id = entry.spec.id;
    const result = await this.store.has(id, 'result.png');
    entry.status = { ...entry.status, ...outcome, result, finishedAt: new Date().toISOString() };
    try {
      if (entry.history && entry.history.length > 0) await this.store.write(id, 'history.json', JSON.stringify(entry.history));
      await this.persist(entry);
    } catch (err) {
      this.opts.log?.(`job ${id}: ${describeWriteError(err, 'its state')}`);
    }
    // Retention first, so that whoever sees this job end also sees the jobs it pushed out gone (a
    // client listing its jobs right after 'done' found one too many under load). The newest
    // finished job is never the one pruned.
    await this.prune();
    this.broadcast(entry, this.statusEvent(entry));
    entry.listeners.clear();
    if (entry.status.status === 'cancelled') await this.store.removeInputs(entry.spec).catch((err) => this.opts.log?.(`job ${id}: cannot delete its inputs: ${firstLine(err)}`));
  }

  /**
   * Apply the retention policy: delete each browser's oldest finished jobs beyond the count (one
   * browser's jobs never evict another's), and every job past the age.
   */
  async prune(now = Date.now()): Promise<void> {
    const { maxJobs, maxAgeSeconds } = this.opts.retention ?? {};
    if (maxJobs === undefined && maxAgeSeconds === undefined) return;
    const finished = [...this.entries.values()].filter((e) => isTerminal(e.status.status));
    const finishedAt = (e: Entry) => Date.parse(e.status.finishedAt ?? e.spec.createdAt) || 0;
    finished.sort((a, b) => finishedAt(a) - finishedAt(b));
    const doomed = new Set<Entry>();
    if (maxJobs !== undefined) {
      const byOwner = new Map<string, Entry[]>();
      for (const e of finished) byOwner.set(e.spec.owner ?? '', [...(byOwner.get(e.spec.owner ?? '') ?? []), e]);
      for (const own of byOwner.values()) own.slice(0, Math.max(0, own.length - maxJobs)).forEach((e) => doomed.add(e));
    }
    if (maxAgeSeconds !== undefined) finished.filter((e) => now - finishedAt(e) > maxAgeSeconds * 1000).forEach((e) => doomed.add(e));
    for (const entry of doomed) {
      // Still saving its end (see Entry.finishing): a later pass takes it. Gone: a DELETE took it meanwhile.
      if (entry.finishing || !this.entries.has(entry.spec.id)) continue;
      this.entries.delete(entry.spec.id);
      await this.store.remove(entry.spec.id).catch((err) => this.opts.log?.(`job ${entry.spec.id}: cannot delete it: ${firstLine(err)}`));
    }
  }

  private onJobEvent(entry: Entry, event: JobEvent): void {
    if (event.type === 'iteration') {
      const { progress, point } = iterationUpdate(event);
      entry.status.progress = progress;
      const history = entry.history ?? (entry.history = []);
      history.push(point);
      // Halve the resolution of the chart's past rather than grow without bound.
      if (history.length > MAX_HISTORY) entry.history = history.filter((_, i) => i % 2 === 0 || i === history.length - 1);
    } else if (event.type === 'preview') {
      entry.lastPreview = { url: event.url, version: event.version };
      entry.status.previewVersion = event.version;
    }
    this.broadcast(entry, event);
    if (Date.now() - entry.lastPersist >= (this.opts.persistIntervalMs ?? PERSIST_INTERVAL_MS)) void this.persist(entry).catch(() => {});
  }

  /**
   * Save the job's status. Writes of one job are chained: two concurrent writes could finish in
   * either order, and a late progress write must never replace the final state.
   */
  private persist(entry: Entry): Promise<void> {
    entry.lastPersist = Date.now();
    const write = entry.persisting.catch(() => {}).then(() => this.store.writeStatus(entry.status));
    entry.persisting = write;
    return write;
  }

  private updatePositions(): void {
    this.waiting.forEach((entry, i) => {
      if (entry.position !== i + 1) {
        entry.position = i + 1;
        this.broadcast(entry, this.statusEvent(entry));
      }
    });
    for (const entry of this.entries.values()) if (entry.status.status !== 'queued') entry.position = undefined;
  }

  private broadcast(entry: Entry, event: JobEvent): void {
    for (const listener of entry.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.opts.log?.(`a listener of job ${entry.spec.id} failed: ${firstLine(err)}`);
      }
    }
  }

  private statusEvent(entry: Entry): JobEvent {
    const { status, error, result } = entry.status;
    return { type: 'status', status, result, ...(entry.position !== undefined && status === 'queued' ? { position: entry.position } : {}), ...(error ? { error } : {}) };
  }

  private view(entry: Entry): JobView {
    return jobView(entry.spec, entry.status, entry.position);
  }
}
