/**
 * The job queue: jobs wait in arrival order and at most `concurrency` of them run at once. Waiting
 * jobs are told their position; subscribers hear every state change and progress event.
 *
 * JobQueue is the whole surface the HTTP layer uses, so a distributed queue (jobs in a database,
 * workers on other machines) could replace LocalJobQueue without touching the routes.
 */
import { copyFile } from 'node:fs/promises';
import { AbortError, firstLine, StyleTransferError } from '../errors.js';
import { JobFinishedError, QueueClosedError, QueueFullError } from './queue-errors.js';
import { isTerminal, type JobEvent, type JobSpec, type JobStatus, type LossPoint } from './job.js';
import type { JobStore, StoredJob } from './store.js';

/** A job as the API shows it: its status plus, while it waits, its place in the queue (1 = next). */
export interface JobView extends JobStatus {
  position?: number;
  options: JobSpec['options'];
  content: { name: string; width: number; height: number };
  styles: { name: string; width: number; height: number }[];
}

export type JobListener = (event: JobEvent) => void;

export interface JobQueue {
  /** Store the inputs and queue the job. Throws QueueFullError, or QueueClosedError while shutting down. */
  enqueue(spec: JobSpec, inputs: { content: Uint8Array; styles: Uint8Array[] }): Promise<JobView>;
  get(id: string): JobView | undefined;
  /** Cancel a waiting or running job; resolves once it has stopped. Throws JobFinishedError when it already finished. */
  cancel(id: string): Promise<JobView | undefined>;
  /**
   * Listen to a job: the listener first hears its current state (loss history, latest preview,
   * then status), then every event. Returns the unsubscribe function, or undefined for an unknown job.
   */
  subscribe(id: string, listener: JobListener): Promise<(() => void) | undefined>;
  /** All jobs, newest first. */
  list(): JobView[];
  /** Whether another job would be accepted now. */
  hasRoom(): boolean;
}

/** Runs one job to its end: resolves with its duration, rejects with AbortError when cancelled. */
export type RunJob = (spec: JobSpec, ctx: { signal: AbortSignal; emit: (event: JobEvent) => void }) => Promise<{ seconds: number }>;

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
}

/** Iterations kept for the chart; a longer run keeps every other point, and so on. */
const MAX_HISTORY = 4000;
/** A running job's status.json is rewritten at most this often by default (state changes always write at once). */
const PERSIST_INTERVAL_MS = 2000;

export interface LocalJobQueueOptions {
  concurrency: number;
  maxQueuedJobs: number;
  log?: (message: string) => void;
  /** How often a running job's progress is saved, in ms (default 2000; tests use 0: every event). */
  persistIntervalMs?: number;
}

export class LocalJobQueue implements JobQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly waiting: Entry[] = [];
  private readonly running = new Set<Entry>();
  private closing = false;

  constructor(
    private readonly store: JobStore,
    private readonly runJob: RunJob,
    private readonly opts: LocalJobQueueOptions,
  ) {}

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
        const hasPreview = await this.store.has(spec.id, 'preview.png');
        if (hasPreview) await copyFile(this.store.file(spec.id, 'preview.png'), this.store.file(spec.id, 'result.png'));
        entry.status = {
          ...status,
          status: 'interrupted',
          result: hasPreview || status.result,
          finishedAt: new Date().toISOString(),
          error: 'the server stopped while this job was running',
        };
        await this.store.writeStatus(entry.status);
      } else if (status.status === 'queued') {
        this.waiting.push(entry);
      }
    }
    this.updatePositions();
    this.pump();
  }

  hasRoom(): boolean {
    return !this.closing && this.waiting.length < this.opts.maxQueuedJobs;
  }

  async enqueue(spec: JobSpec, inputs: { content: Uint8Array; styles: Uint8Array[] }): Promise<JobView> {
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

  list(): JobView[] {
    return [...this.entries.values()].reverse().map((e) => this.view(e));
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
    if (entry.history === undefined) entry.history = await this.readHistory(id);
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
      entry.settled = this.run(entry);
    }
    this.updatePositions();
  }

  private async run(entry: Entry): Promise<void> {
    const controller = new AbortController();
    entry.controller = controller;
    entry.history = [];
    entry.status = { ...entry.status, status: 'running', startedAt: new Date().toISOString() };
    await this.persist(entry);
    this.broadcast(entry, this.statusEvent(entry));
    let outcome: Partial<JobStatus> & { status: JobStatus['status'] };
    try {
      const { seconds } = await this.runJob(entry.spec, { signal: controller.signal, emit: (e) => this.onJobEvent(entry, e) });
      outcome = { status: 'done', seconds };
    } catch (err) {
      if (this.closing) outcome = { status: 'interrupted', error: 'the server stopped while this job was running' };
      else if (err instanceof AbortError) outcome = { status: 'cancelled', error: 'cancelled' };
      else {
        const message = err instanceof StyleTransferError ? err.message : `internal error: ${firstLine(err)}`;
        if (!(err instanceof StyleTransferError)) this.opts.log?.(`job ${entry.spec.id} failed: ${(err as Error)?.stack ?? String(err)}`);
        outcome = { status: 'failed', error: message };
      }
    }
    this.running.delete(entry);
    entry.controller = undefined;
    await this.finish(entry, outcome);
    this.pump();
  }

  /** Move a job to its final state: save its status and history, tell its listeners, and let them go. */
  private async finish(entry: Entry, outcome: Partial<JobStatus> & { status: JobStatus['status'] }): Promise<void> {
    const result = await this.store.has(entry.spec.id, 'result.png');
    entry.status = { ...entry.status, ...outcome, result, finishedAt: new Date().toISOString() };
    try {
      if (entry.history && entry.history.length > 0) await this.store.write(entry.spec.id, 'history.json', JSON.stringify(entry.history));
      await this.persist(entry);
    } catch (err) {
      this.opts.log?.(`cannot save job ${entry.spec.id}: ${firstLine(err)}`);
    }
    this.broadcast(entry, this.statusEvent(entry));
    entry.listeners.clear();
  }

  private onJobEvent(entry: Entry, event: JobEvent): void {
    if (event.type === 'iteration') {
      const { scale, scales, iteration, iterations, width, height, loss, content, style, tv, elapsed, eta } = event;
      entry.status.progress = { scale, scales, iteration, iterations, width, height, loss, elapsed, eta };
      const history = entry.history ?? (entry.history = []);
      history.push({ scale, iteration, loss, content, style, tv });
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
    const { spec, status } = entry;
    const strip = (i: { name: string; width: number; height: number }) => ({ name: i.name, width: i.width, height: i.height });
    return {
      ...status,
      ...(status.status === 'queued' && entry.position !== undefined ? { position: entry.position } : {}),
      options: spec.options,
      content: strip(spec.content),
      styles: spec.styles.map(strip),
    };
  }

  private async readHistory(id: string): Promise<LossPoint[]> {
    try {
      const bytes = await this.store.read(id, 'history.json');
      return bytes ? (JSON.parse(bytes.toString('utf8')) as LossPoint[]) : [];
    } catch {
      return [];
    }
  }
}

export function previewUrl(id: string, version: number): string {
  return `/api/jobs/${id}/preview?v=${version}`;
}
