/**
 * What a job queue (embedded or Redis) throws when it refuses a request. The queue knows nothing
 * of HTTP; the server maps each of these to a status code (src/server/http-error.ts). A full disk
 * is src/jobs/errors.ts's StorageFullError.
 */
export class QueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No room for another job now; the client may try again later (HTTP 429). */
export class QueueFullError extends QueueError {}

/** The queue is shutting down and takes no new jobs (HTTP 503). */
export class QueueClosedError extends QueueError {}

/** The job is in a state that does not allow the request, e.g. deleting a running job (HTTP 409). */
export class JobStateError extends QueueError {}

/** The job has already finished, so it cannot be cancelled (HTTP 409). */
export class JobFinishedError extends JobStateError {}
