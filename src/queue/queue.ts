/**
 * A job queue as the HTTP layer sees it: JobQueue is the whole surface the routes use, so the
 * embedded queue (local-queue.ts: the server runs its jobs in runner processes) and the Redis one
 * (bullmq-queue.ts: `style-transfer worker` processes run them) are interchangeable. Its errors are
 * the classes of errors.ts, which the server maps to status codes.
 */
import type { ImageInfo, JobEvent, JobStatus, JobView } from '../jobs/events.js';
import type { JobSpec } from '../jobs/job.js';
import type { JobInputs } from '../jobs/job-store.js';

/** What the API shows of a job: its status, its queue position while queued, its options and its inputs' names and sizes. */
export function jobView(spec: JobSpec, status: JobStatus, position: number | undefined): JobView {
  const strip = (i: ImageInfo): ImageInfo => ({ name: i.name, width: i.width, height: i.height });
  return {
    ...status,
    ...(status.status === 'queued' && position !== undefined ? { position } : {}),
    options: spec.options,
    content: strip(spec.content),
    styles: spec.styles.map(strip),
    ...(spec.masks ? { masks: spec.masks.map(strip) } : {}),
  };
}

export type JobListener = (event: JobEvent) => void;

export interface JobQueue {
  /**
   * Store the inputs and queue the job. `inputs` are uploaded files the queue takes over (moves
   * into the job's storage). Throws QueueFullError, QueueClosedError, or StorageFullError (disk full).
   */
  enqueue(spec: JobSpec, inputs: JobInputs): Promise<JobView>;
  get(id: string): JobView | undefined;
  /** Cancel a waiting or running job; resolves once it has stopped. Throws JobFinishedError when it already finished. */
  cancel(id: string): Promise<JobView | undefined>;
  /** Delete a finished job and all its files. Throws JobStateError while it waits or runs; false for an unknown job. */
  remove(id: string): Promise<boolean>;
  /**
   * Listen to a job: the listener first hears its current state (loss history, latest preview,
   * then status), then every event. Returns the unsubscribe function, or undefined for an unknown job.
   */
  subscribe(id: string, listener: JobListener): Promise<(() => void) | undefined>;
  /** Jobs newest first: all of them, or those whose spec has the given owner. */
  list(filter?: { owner?: string }): JobView[];
  /** Whether another job would be accepted now. */
  hasRoom(): boolean;
  /** Stop taking jobs and stop the running ones (they end `interrupted`); waiting ones stay queued in storage. */
  close(): Promise<void>;
}
