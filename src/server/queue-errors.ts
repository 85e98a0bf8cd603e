/**
 * What a job queue refuses, as errors of its own: the queue knows nothing about HTTP, and the
 * server maps each class to a status code (server.ts errorResponse). Any queue backend (the local
 * one, a Redis one) throws these.
 */
export class QueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Too many jobs are waiting (HTTP 429). */
export class QueueFullError extends QueueError {}

/** The queue is shutting down and takes no more jobs (HTTP 503). */
export class QueueClosedError extends QueueError {}

/** The job is in a state that does not allow the request, e.g. cancelling a finished job (HTTP 409). */
export class JobStateError extends QueueError {}

/** The data directory is full, or over its quota: no new job can be stored (HTTP 507). */
export class StorageFullError extends QueueError {}
